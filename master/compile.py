"""Compile the parsed configuration into the proxies a worker runs.

Runs after the Lua body context, so ``lua.NAME`` and ``lua FN`` can be checked
against what Lua registered; conditions, log-format strings and sample
expressions are compiled by the sample engine.  Every error names its
configuration line.
"""

from __future__ import annotations

import re
from typing import Any

from luaproxy.lua_api.engine import LuaEngine
from luaproxy.worker import access_log
from luaproxy.worker.backend import make_balancer, parse_check_spec
from luaproxy.worker.backend.checks import compile_spec
from luaproxy.worker.backend.cookie import dynamic_cookie, parse_cookie_line
from luaproxy.worker.backend.tcpcheck import RuleSet, check_rules, compile_rules
from luaproxy.worker.http.forwarded import ForwardedHeader
from luaproxy.worker.http.pages import ErrorPages
from luaproxy.worker.http2 import choice as http2_choice
from luaproxy.worker.proxy import Proxy, Rule, Server, ServerRule, SwitchingRule
from luaproxy.worker.resolvers.client import Resolver
from luaproxy.worker.rules import actions_http, actions_stick, actions_tcp
from luaproxy.worker.rules.errors import RuleError
from luaproxy.worker.samples import AclSet, PatternLibrary, SampleError, SampleRegistry
from luaproxy.worker.sticktable import SpecError, TableSpec, parse_table_args
from luaproxy.worker.sticktable.persistence import StickRule
from luaproxy.worker.webstats import conf as webstats

from . import dynamic_servers, filters_build, resolvers_build, tls_build
from .compile_env import CompileEnv
from .config.errors import ConfigError, ConfigErrors, did_you_mean
from .config.keywords import to_int
from .config.keywords_global import log_servers
from .config.lexer import Line
from .config.mailers import email_alert
from .config.model import Config, ProxyConf, RuleConf, ServerConf
from .config.units import parse_time
from .stick_tables import TableStore

RULESETS = {
    "tcp-request connection": ("tcp-req", actions_tcp.parse),
    "tcp-request session": ("tcp-req", actions_tcp.parse),
    "tcp-request content": ("tcp-req", actions_tcp.parse),
    "tcp-response content": ("tcp-res", actions_tcp.parse),
    "http-request": ("http-req", actions_http.parse),
    "http-response": ("http-res", actions_http.parse),
    "http-after-response": ("http-res", actions_http.parse),
}


def compile_config(config: Config, engine: LuaEngine, registry: SampleRegistry,
                   library: PatternLibrary, tables: TableStore | None = None) -> list[Proxy]:
    errors: list[ConfigError] = []
    proxies = []
    for conf in config.proxies:
        proxies.append(_new_proxy(conf, errors))
    store = tables if tables is not None else TableStore()
    try:
        by_table = _stick_tables(config, store)
    except ConfigErrors as exc:
        errors.extend(exc.errors)
        by_table = {}
    for proxy in proxies:
        proxy.table = by_table.get(proxy.name)
        proxy.tables = by_table
    backends = {p.name: p for p in proxies if p.has_backend}
    caches = filters_build.caches(config)
    resolvers = {name: Resolver(section) for name, section in config.resolvers.items()}
    for conf, proxy in zip(config.proxies, proxies, strict=True):
        env = CompileEnv(engine, registry, library, AclSet(registry, library), tables=by_table,
                         own_table=conf.name, error_sections=config.http_errors, caches=caches,
                         resolvers=resolvers)
        for line in conf.acls:
            try:
                env.acls.add(line.words[1:], (line.file, line.number))
            except SampleError as exc:
                errors.append(line.error(f"'acl': {exc}"))
        if conf.has_backend:
            errors += _compile_checks(conf, proxy, env)
            try:
                proxy.email_alert = email_alert(conf, config.mailers, config.warnings)
            except ConfigError as exc:
                errors.append(exc)
        try:
            proxy.header_captures, env.capture_slots = _capture_slots(conf)
        except ConfigError as exc:
            errors.append(exc)
        upgrades = any(r.action == "switch-mode" for r in conf.rules.get("tcp-request content", ()))
        # A TCP proxy switching to HTTP keeps its HTTP rules for its upgraded streams, as haproxy does.
        errors += _upgrade_errors(conf, upgrades)
        for ruleset, rules in conf.rules.items():
            if ruleset.startswith("stick "):
                for rule_conf in rules:
                    try:
                        proxy.stick_rules.append(_stick_rule(rule_conf, env))
                    except RuleError as exc:
                        errors.append(rule_conf.line.error(f"'{ruleset}': {exc.message}", exc.hint))
                continue
            ignored = ruleset.startswith("http-") and conf.mode != "http" and not upgrades
            if ignored:
                config.warnings.append(f"'{ruleset}' rules ignored for proxy '{conf.name}' as they require "
                                       f"HTTP mode ({rules[0].line.file}:{rules[0].line.number}).")
            for rule_conf in rules:
                try:
                    rule = _compile_rule(rule_conf, env)  # ignored rules are still checked, as haproxy -c does
                except RuleError as exc:
                    errors.append(rule_conf.line.error(f"'{ruleset}': {exc.message}", exc.hint))
                    continue
                if not ignored:
                    proxy.rules.setdefault(ruleset, []).append(rule)
        if "http-request" in proxy.rules:
            proxy.rules["http-request"] = actions_stick.fuse(proxy.rules["http-request"])
        errors += _lua_filters(conf, proxy, env, config.warnings)
        errors += filters_build.attach(conf, proxy, caches)
        if conf.default_backend:
            proxy.default_backend = backends.get(conf.default_backend)
        errors += _server_rules(conf, proxy, env)
        for rule_conf in conf.use_backends:
            try:
                proxy.switching_rules.append(_switching_rule(rule_conf, backends, env))
            except RuleError as exc:
                errors.append(rule_conf.line.error(f"'use_backend': {exc.message}", exc.hint))
        if conf.has_frontend and conf.setting("unique-id-format"):
            try:
                proxy.unique_id_format = env.log_format(" ".join(conf.setting("unique-id-format")))
            except RuleError as exc:
                errors.append(conf.line_of("unique-id-format").error(f"'unique-id-format': {exc.message}", exc.hint))
            header = conf.setting("unique-id-header")
            proxy.unique_id_header = header[0] if header else None
        try:
            proxy.forwarded_headers = tuple(
                ForwardedHeader.parse(option, conf.setting(f"option {option}") or ())
                for option in ("forwardfor", "originalto") if conf.options.get(option))
        except ValueError as exc:
            at = conf.line_of("option forwardfor", "option originalto")
            errors.append(at.error(f"{conf.kind} '{conf.name}': {exc}."))
        if conf.has_frontend and conf.setting("error-log-format"):
            try:
                proxy.error_log_format = env.log_format(" ".join(conf.setting("error-log-format")), mandatory=True)
            except RuleError as exc:
                errors.append(conf.line_of("error-log-format").error(f"'error-log-format': {exc.message}", exc.hint))
        try:
            proxy.stats = webstats.build(conf.settings.get("stats"), env.condition, parse_time)
        except RuleError as exc:
            at = conf.line_of("stats")
            errors.append(at.error(f"{conf.kind} '{conf.name}': 'stats admin': {exc.message}", exc.hint))
        monitor = conf.setting("monitor-uri")
        if conf.has_frontend and monitor:
            proxy.monitor_uri = monitor[0]
        reuse = conf.setting("http-reuse")
        if reuse:
            if len(reuse) != 1 or reuse[0] not in ("never", "safe", "aggressive", "always"):
                at = conf.line_of("http-reuse")
                errors.append(at.error(f"{conf.kind} '{conf.name}': 'http-reuse' expects never, safe, "
                                       "aggressive or always."))
            else:
                proxy.http_reuse = reuse[0]
        try:
            proxy.error_pages = _error_pages(conf, config.http_errors)
            proxy.error_pages.replies = _http_error_replies(conf, env)
        except ConfigError as exc:
            errors.append(exc)
        try:
            proxy.access_log = access_log.build(proxy, conf.settings, log_servers(config.global_), engine.logger,
                                                registry, library, proxies, config.warnings)
        except SampleError as exc:
            at = conf.line_of("log-format", "log-format-sd", "option httplog", "option tcplog", "option httpslog")
            errors.append(at.error(f"failed to parse log-format : {exc}"))
    errors += tls_build.attach(config, proxies, registry, library)
    errors += dynamic_servers.link_references(config, proxies)
    errors += resolvers_build.attach(config, proxies)
    errors += _fullconn(config, proxies)
    if errors:
        raise ConfigErrors(errors)
    http2_choice.load_if_spoken(proxies)
    return proxies


def _fullconn(config: Config, proxies: list[Proxy]) -> list[ConfigError]:
    """Each backend's ``fullconn``; without one, as haproxy 2.6: a tenth of the maxconn sum of the frontends
    routing to it (default_backend, a named use_backend, a listen's own servers), at least 1."""
    errors: list[ConfigError] = []
    routed: dict[int, int] = {}
    for proxy in proxies:
        if proxy.has_frontend:
            targets = {id(rule.backend) for rule in proxy.switching_rules if rule.backend is not None}
            targets |= {id(proxy.default_backend or proxy)}
            for target in targets:
                routed[target] = routed.get(target, 0) + (proxy.maxconn or config.global_.maxconn)
    for conf, proxy in zip(config.proxies, proxies, strict=True):
        proxy.fullconn = max(1, routed.get(id(proxy), 0) // 10)
        value = conf.setting("fullconn") if conf.has_backend else None
        if value:
            try:
                proxy.fullconn = to_int(conf.line_of("fullconn"), value[0], "number of connections", 1)
            except ConfigError as exc:
                errors.append(exc)
    return errors


def _new_proxy(conf: ProxyConf, errors: list[ConfigError]) -> Proxy:
    """The runtime proxy with its servers, balancer and health-check settings; each problem joins *errors*
    and the rest is still built, so that -c reports them all."""
    if conf.has_backend and conf.options.get("transparent") and not conf.servers:
        # option transparent: connect where the client connected (set-dst/set-dst-port may change it)
        conf.servers.append(ServerConf("<transparent>", "0.0.0.0", 0, conf.line))
    servers = []
    for i, s in enumerate(conf.servers):
        try:
            server_id = _server_id(s, i + 1)
        except ConfigError as exc:
            errors.append(exc)
            server_id = i + 1
        servers.append(Server(s.name, s.host, s.port, s.weight, s.maxconn, s.backup, s.disabled, s.check,
                              server_id))
    balancer = spec = None
    if conf.has_backend:
        check = conf.setting("health-check")
        check = check if check and conf.options.get(check[0]) else None
        httpchk = check[1:] if check and check[0] == "httpchk" else None
        try:
            spec = check_rules(check, conf.settings.get("tcp-check", [])) or \
                parse_check_spec(httpchk, conf.settings.get("http-check", []))
        except ValueError as exc:
            errors.append(conf.line_of("http-check", "tcp-check").error(f"{conf.kind} '{conf.name}': {exc}"))
            spec = parse_check_spec(None, [])
        for server, server_conf in zip(servers, conf.servers, strict=True):
            try:
                dynamic_servers.configure_server(server, server_conf, spec)
            except ValueError as exc:
                errors.append(server_conf.line.error(f"server '{server.name}': {exc}"))
        try:
            balancer = make_balancer(conf.balance, servers, conf.options, conf.setting("hash-type") or ())
        except ValueError as exc:
            errors.append(conf.line_of("balance", "hash-type").error(f"{conf.kind} '{conf.name}': 'balance': {exc}"))
    cookie = conf.setting("cookie") if conf.has_backend else None
    key = conf.setting("dynamic-cookie-key")
    if cookie and "dynamic" in cookie and key:
        for server in servers:
            server.cookie = server.cookie or dynamic_cookie(key[0], server.host, server.port)
    proxy = Proxy(conf.name, conf.id, conf.mode, conf.has_frontend, conf.has_backend,
                  timeouts=dict(conf.timeouts), inspect_delay=dict(conf.inspect_delay), servers=servers,
                  balancer=balancer, retries=conf.retries, redispatch=_redispatch_interval(conf),
                  maxconn=conf.maxconn, options=dict(conf.options), bind_names=[b.name for b in conf.binds],
                  bind_addresses=[b.stat_address for b in conf.binds],
                  accept_proxy=frozenset(i for i, b in enumerate(conf.binds, start=1) if b.accept_proxy),
                  h2_binds=frozenset(i for i, b in enumerate(conf.binds, start=1) if b.proto == "h2"),
                  h1_binds=frozenset(i for i, b in enumerate(conf.binds, start=1) if b.proto == "h1"),
                  raw_binds=frozenset(i for i, b in enumerate(conf.binds, start=1) if b.proto == "none"),
                  cookie=parse_cookie_line(list(cookie), parse_time) if cookie else None)
    if conf.has_backend:
        proxy.server_factory = dynamic_servers.ServerFactory(spec)
    return proxy


def _compile_checks(conf: ProxyConf, proxy: Proxy, env: CompileEnv) -> list[ConfigError]:
    """The samples of a backend's check rules (send-lf, header patterns, set-var), compiled once for its
    servers."""
    compiled: dict[int, object] = {}

    def compiled_spec(spec: object) -> object:
        if id(spec) not in compiled:
            compile_with = compile_rules if isinstance(spec, RuleSet) else compile_spec
            compiled[id(spec)] = compile_with(spec, env.log_format, env.set_var, env.unset_var)
        return compiled[id(spec)]

    try:
        for server in proxy.servers:
            server.check_spec = compiled_spec(server.check_spec)
        if proxy.server_factory is not None:  # 'add server ... check' gets the same compiled rules
            proxy.server_factory.check_spec = compiled_spec(proxy.server_factory.check_spec)
    except RuleError as exc:
        at = conf.line_of("http-check", "tcp-check")
        return [at.error(f"{conf.kind} '{conf.name}': health-check rules: {exc.message}", exc.hint)]
    return []


def _server_id(server: ServerConf, position: int) -> int:
    """``server ... id N``, else the server's position (HAProxy numbers the others from 1)."""
    text = server.options.get("id")
    if text is None:
        return position
    if not text.isdigit() or int(text) < 1:
        raise server.line.error(f"server '{server.name}': 'id' expects a positive integer, got '{text}'.")
    return int(text)


def _upgrade_errors(conf: ProxyConf, upgrades: bool) -> list[ConfigError]:
    """What haproxy refuses around TCP to HTTP upgrades: switch-mode outside a frontend, a bind's
    mux (``proto``) that its proxy's mode cannot use."""
    errors = []
    if upgrades and not conf.has_frontend:
        line = next(r.line for r in conf.rules["tcp-request content"] if r.action == "switch-mode")
        errors.append(line.error(f"'tcp-request switch-mode' not allowed because backend '{conf.name}' has no "
                                 "frontend capability.", "Use it in a frontend or listen section."))
    for bind in conf.binds:
        if bind.proto and (bind.proto == "none") != (conf.mode == "tcp"):
            errors.append(bind.line.error(f"MUX protocol '{bind.proto}' is not usable in mode {conf.mode}.",
                                          "'proto none' is for TCP listeners, 'proto h1|h2' for HTTP ones."))
    return errors


def _redispatch_interval(conf: ProxyConf) -> int | None:
    """HAProxy's default interval is -1 (redispatch on the last retry); None without the option."""
    if not conf.options.get("redispatch"):
        return None
    args = conf.setting("option redispatch") or ()
    return int(args[0]) if args else -1


def _condition(words: tuple[str, ...], keyword: str, env: CompileEnv) -> object:
    """The compiled ``if|unless ...`` (the Condition applies ``unless`` itself), or None."""
    if not keyword:
        return None
    if not words:
        raise RuleError(f"missing condition after '{keyword}'.")
    return env.condition((keyword, *words))


def _compile_rule(rule_conf: RuleConf, env: CompileEnv) -> Rule:
    action_words, keyword, condition_words = rule_conf.split_condition()
    if not action_words:
        raise RuleError("missing action before 'if'/'unless'.")
    env = env.at((rule_conf.line.file, rule_conf.line.number), rule_conf.ruleset)
    kind, parse = RULESETS[rule_conf.ruleset]
    action = parse(kind, action_words, env)
    condition = _condition(condition_words, keyword, env)
    return Rule(action, condition, response=kind.endswith("-res"),
                where=f"{rule_conf.line.file}:{rule_conf.line.number}")


def _stick_tables(config: Config, store: TableStore) -> dict[str, object]:
    """Every proxy's table, made (or kept from the last generation) by *store*; ``server_id`` and
    ``server_key`` are added to the tables that stick rules write to."""
    specs: dict[str, TableSpec] = {}
    errors = []
    for conf in config.proxies:
        if conf.stick_table is not None:
            try:
                specs[conf.name] = parse_table_args(conf.name, conf.stick_table.words[1:])
            except SpecError as exc:
                errors.append(conf.stick_table.error(f"stick-table: {exc}."))
                continue
            peers = specs[conf.name].peers
            if peers and peers not in config.peers:
                errors.append(conf.stick_table.error(f"stick-table: unknown peers section '{peers}'.",
                                                     f"Declare it: 'peers {peers}' with the local peer in it."))
    for section in config.peers.values():
        specs.update((spec.name, spec) for spec in section.tables)
    for conf in config.proxies:
        for ruleset, rules in conf.rules.items():
            for rule_conf in rules if ruleset.startswith("stick ") else ():
                words, _, _ = rule_conf.split_condition()
                name = words[2] if len(words) >= 3 and words[1] == "table" else conf.name
                if name in specs:
                    specs[name] = specs[name].with_data("server_id").with_data("server_key")
    errors += _unknown_table_references(config, specs)
    if errors:
        raise ConfigErrors(errors)
    return {name: store.table(spec) for name, spec in specs.items()}


_TABLE_ARG = re.compile(r"(?<![\w.])(sc[0-2]?_\w+|src_\w+|table_\w+|in_table)\(([^)]*)\)")


def _unknown_table_references(config: Config, specs: dict[str, TableSpec]) -> list[ConfigError]:
    """``src_conn_rate(nosuch)``, ``table_gpc0(nosuch)``: a table argument must name a declared table."""
    errors = []
    for conf in config.proxies:
        lines = [*conf.acls, *(r.line for rules in conf.rules.values() for r in rules),
                 *(r.line for r in conf.use_backends)]
        for line in lines:
            for fetch_name, args in _TABLE_ARG.findall(" ".join(line.words[1:])):
                name = [a.strip() for a in args.split(",") if a.strip() and not a.strip().isdigit()]
                if name and name[-1] not in specs:
                    errors.append(line.error(f"'{fetch_name}': unable to find table '{name[-1]}'.",
                                             did_you_mean(name[-1], specs)))
    return errors


def _stick_rule(rule_conf: RuleConf, env: CompileEnv) -> StickRule:
    words, keyword, condition_words = rule_conf.split_condition()
    env = env.at((rule_conf.line.file, rule_conf.line.number), rule_conf.ruleset)
    if len(words) == 3 and words[1] == "table":
        table_name: str | None = words[2]
    elif len(words) == 1:
        table_name = None
    else:
        raise RuleError("expects '<pattern> [table <table>]'.")
    table = env.stick_table(table_name)
    return StickRule(rule_conf.ruleset.split()[1], env.expression(words[0]), table,
                     _condition(condition_words, keyword, env))


def _server_rules(conf: ProxyConf, proxy: Proxy, env: CompileEnv) -> list[ConfigError]:
    """``use-server NAME [if|unless cond]`` lines, in order; the errors, each naming the section's line."""
    errors = []
    for words in conf.settings.get("use-server", ()):
        rule = RuleConf("use-server", words, conf.line).split_condition()
        server = next((s for s in proxy.servers if rule[0] and s.name == rule[0][0]), None)
        if len(rule[0]) != 1 or server is None:
            at = conf.line_of("use-server")
            errors.append(at.error(f"'use-server' : unknown server '{' '.join(rule[0])}' in backend "
                                   f"'{conf.name}'."))
            continue
        try:
            proxy.server_rules.append(ServerRule(server, _condition(rule[2], rule[1], env)))
        except RuleError as exc:
            errors.append(conf.line_of("use-server").error(f"'use-server': {exc.message}", exc.hint))
    return errors


def _switching_rule(rule_conf: RuleConf, backends: dict[str, Proxy], env: CompileEnv) -> SwitchingRule:
    words, keyword, condition_words = rule_conf.split_condition()
    if len(words) != 1:
        raise RuleError("expects one backend name before 'if'/'unless'.")
    condition = _condition(condition_words, keyword, env.at((rule_conf.line.file, rule_conf.line.number)))
    if "%" in words[0]:  # a name made per request, as haproxy reads one with a log-format in it
        return SwitchingRule(None, condition, env.log_format(words[0]), backends)
    backend = backends.get(words[0])
    if backend is None:
        raise RuleError(f"unknown backend '{words[0]}'.", did_you_mean(words[0], backends))
    return SwitchingRule(backend, condition)


def _capture_slots(conf: ProxyConf) -> tuple[dict[str, tuple[tuple[str | None, int], ...]], dict[int, int]]:
    """The capture slots of a frontend, per side: ``capture request|response header`` lines first,
    then ``declare capture`` and ``http-request capture ... len`` in line order.  Also the slot index
    of each such rule, by line number."""
    slots = {side: list(found) for side, found in _header_captures(conf).items()}
    allocations = [(int(number), side, int(length)) for number, side, length in conf.settings.get("declare", [])]
    for rule in conf.rules.get("http-request", []):
        words = rule.split_condition()[0]
        if words[:1] == ("capture",) and len(words) == 4 and words[2] == "len" and words[3].isdigit():
            allocations.append((rule.line.number, "request", int(words[3])))
    by_line = {}
    for number, side, length in sorted(allocations):
        by_line[number] = len(slots.setdefault(side, []))
        slots[side].append((None, length))
    return {side: tuple(found) for side, found in slots.items()}, by_line


def _header_captures(conf: ProxyConf) -> dict[str, tuple[tuple[str, int], ...]]:
    """``capture request|response header <name> len <n>`` (``capture cookie`` is accepted, not logged)."""
    slots: dict[str, list[tuple[str, int]]] = {}
    for args in conf.settings.get("capture", []):
        if args and args[0] == "cookie":
            continue
        if len(args) != 5 or args[0] not in ("request", "response") or args[1] != "header" \
                or args[3] != "len" or not args[4].isdigit():
            raise conf.line_of("capture").error(f"{conf.kind} '{conf.name}': 'capture' expects "
                                  "'request|response header <name> len <length>'.")
        slots.setdefault(args[0], []).append((args[2], int(args[4])))
    return {side: tuple(found) for side, found in slots.items()}


def _http_error_replies(conf: ProxyConf, env: CompileEnv) -> dict[int, Any]:
    """``http-error status <code> [reply options]`` lines, as reply builders."""
    replies = {}
    for args in conf.settings.get("http-error", []):
        if len(args) < 2 or args[0] != "status" or not args[1].isdigit():
            at = conf.line_of("http-error")
            raise at.error(f"{conf.kind} '{conf.name}': 'http-error' expects 'status <code>' and "
                           "optional reply options.")
        try:
            replies[int(args[1])] = actions_http.http_error_reply(int(args[1]), args[2:], env)
        except RuleError as exc:
            at = conf.line_of("http-error")
            raise at.error(f"{conf.kind} '{conf.name}': 'http-error': {exc.message}", exc.hint) from None
    return replies


def _error_pages(conf: ProxyConf, sections: dict[str, dict[int, str]]) -> ErrorPages:
    """errorfile and errorfiles lines, in order: a later one replaces an earlier page."""
    files: dict[int, str] = {}
    for args in conf.settings.get("errorfile", []):
        if args[0] == "errorfiles":
            pages = sections.get(args[1])
            if pages is None:
                at = conf.line_of("errorfiles")
                raise at.error(f"{conf.kind} '{conf.name}': 'errorfiles' : unknown http-errors section "
                               f"'{args[1]}'.", did_you_mean(args[1], sections))
            wanted = {int(code) for code in args[2:]} or set(pages)
            files.update({code: path for code, path in pages.items() if code in wanted})
            continue
        line = Line(conf.line.file, conf.line.number, ("errorfile", *args))
        if len(args) != 2 or not args[0].isdigit():
            raise line.error("'errorfile' expects a status code and a file.")
        files[int(args[0])] = args[1]
    try:
        return ErrorPages.load(files)
    except OSError as exc:
        at = conf.line_of("errorfile", "errorfiles")
        raise at.error(f"'errorfile': cannot read '{exc.filename}' ({exc.strerror}).") from None
    except ValueError:
        at = conf.line_of("errorfile", "errorfiles")
        raise at.error("'errorfile': the file name holds a NUL character.") from None


def _lua_filters(conf: ProxyConf, proxy: Proxy, env: CompileEnv, warnings: list[str]) -> list[ConfigError]:
    """``filter lua.NAME args``: in HTTP mode the filter's callbacks become the last http-request/http-response
    rules; in TCP mode the proxy's streams run it on their data (worker.tcp.filters)."""
    errors = []
    for words in conf.settings.get("filter", []):
        where = f"proxy '{conf.name}'"
        if not words or not words[0].startswith("lua."):
            name = words[0] if words else ""
            if name in filters_build.BUILT_IN:
                continue
            if name == "spoe":  # an agent the user counts on (often for security): never silently dropped
                at = conf.line_of("filter")
                errors.append(at.error(f"'filter spoe' in {where}: SPOE is not supported by luaproxy.",
                                       "Run the logic as a Lua action or service instead."))
            else:
                warnings.append(f"filter '{name}' ignored for {where}: luaproxy runs Lua filters only.")
            continue
        try:
            if conf.mode != "http":
                tcp_filter = env.lua_tcp_filter(words[0][4:], tuple(words[1:]))
                if tcp_filter is not None:
                    proxy.tcp_filters = (*proxy.tcp_filters, tcp_filter)
                continue
            actions = env.lua_filter(words[0][4:], tuple(words[1:]))
        except RuleError as exc:
            errors.append(conf.line_of("filter").error(f"'filter {words[0]}': {exc.message}", exc.hint))
            continue
        if actions is not None:
            proxy.rules.setdefault("http-request", []).append(Rule(actions[0], where=f"filter {words[0]}"))
            proxy.rules.setdefault("http-response", []).append(Rule(actions[1], response=True,
                                                                    where=f"filter {words[0]}"))
    return errors
