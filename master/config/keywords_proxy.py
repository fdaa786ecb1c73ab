"""Keywords of the ``defaults``, ``frontend``, ``backend`` and ``listen`` sections."""

from __future__ import annotations

from luaproxy.worker.backend.cookie import parse_cookie_line
from luaproxy.worker.backend.tcpcheck import CHECK_OPTIONS, check_rules, parse_rules
from luaproxy.worker.filters.compression import parse as compression_settings
from luaproxy.worker.log import parse_log_server
from luaproxy.worker.tls.options import BIND, SERVER, TlsError, TlsOptions
from luaproxy.worker.webstats import check_stats_line

from .addresses import expand_env, split_host_port, unix_path
from .keywords import ANY_PROXY, BACK, FRONT, PROXY, expect_args, to_int
from .lexer import Line
from .mailers import check_email_alert
from .model import Bind, ProxyConf, RuleConf, ServerConf
from .units import parse_time

NO_DEFAULTS = ("frontend", "backend", "listen")
FRONT_ONLY = ("frontend", "listen")
TIMEOUTS = ("connect", "client", "server", "http-request", "http-keep-alive", "queue", "tunnel",
            "client-fin", "server-fin", "check", "tarpit")
BALANCE = ("roundrobin", "static-rr", "leastconn", "first", "source", "uri", "url_param", "random")
OPTIONS = ("forwardfor", "http-server-close", "httpclose", "http-keep-alive", "redispatch", "httplog",
           "tcplog", "dontlognull", "httpchk", "log-health-checks", "abortonclose", "splice-auto",
           "splice-request", "splice-response",
           "tcp-check", "http-buffer-request", "dontlog-normal", "logasap", "nolinger", "tcpka",
           "clitcpka", "srvtcpka", "http-no-delay", "http-pretend-keepalive", "allbackups",
           "persist", "prefer-last-server", "socket-stats", "log-separate-errors", "http-use-htx",
           "http-ignore-probes", "httpslog", "checkcache", "independent-streams", "originalto", "transparent",
           "http-restrict-req-hdr-names",
           *(name for name in CHECK_OPTIONS if name not in ("httpchk", "tcp-check")))
RESTRICT_HDR_NAMES = ("preserve", "delete", "reject")
NOT_NEGATABLE = ("forwardfor", "originalto", "httplog", "httpslog", "tcplog", "tcpka", "http-use-htx",
                 "http-restrict-req-hdr-names", *CHECK_OPTIONS)
"""Options haproxy 2.6 refuses after 'no' (they are not on/off flags)."""


@PROXY.register("mode", ANY_PROXY, "Proxy mode: tcp or http.")
def _mode(p: ProxyConf, line: Line) -> None:
    (mode,) = expect_args(line, 1, 1, "'tcp' or 'http'")
    if mode not in ("tcp", "http"):
        raise line.error(f"unknown proxy mode '{mode}'.", "Expected 'tcp' or 'http'.")
    p.mode = mode


def parse_bind_address(line: Line, word: str) -> list[Bind]:
    """One ``bind`` address word, which may list several addresses separated by commas."""
    binds = []
    for part in expand_env(word).split(","):
        if part.startswith("fd@"):
            if not part[3:].isdigit():
                raise line.error(f"invalid inherited socket '{part}'.", "Expected fd@<number>.")
            binds.append(Bind("", 0, line, fd=int(part[3:])))
            continue
        path = unix_path(part)
        if path is not None:
            binds.append(Bind("", 0, line, path=path))
            continue
        try:
            host, port = split_host_port(part)
        except ValueError as exc:
            raise line.error(f"{exc}.", "Expected ADDR:PORT, [IPv6]:PORT, *:PORT or :PORT.") from None
        binds.append(Bind(host, port or 0, line))
    return binds


BIND_OPTIONS_WITH_VALUE = ("name", "process", "thread", "maxconn", "backlog", "id", "nice", "mode",
                           "user", "group", "level", "tfo", "interface", "namespace")
BIND_FLAGS = ("transparent", "v4v6", "v6only", "defer-accept")


@PROXY.register("bind", FRONT_ONLY, "Listen on an address.")
def _bind(p: ProxyConf, line: Line) -> None:
    args = expect_args(line, 1, None, "an address ADDR:PORT and optional settings")
    binds = parse_bind_address(line, args[0])
    rest = list(args[1:])
    name = ""
    tls = TlsOptions()
    accept_proxy = False
    proto = ""
    while rest:
        opt = rest.pop(0)
        if _take_tls(line, tls, opt, rest, BIND):
            continue
        if opt in BIND_OPTIONS_WITH_VALUE:
            if not rest:
                raise line.error(f"bind option '{opt}' expects a value.")
            value = rest.pop(0)
            if opt == "name":
                name = value
        elif opt == "proto":
            if not rest or rest[0] not in ("h1", "h2", "none"):
                raise line.error(f"bind option 'proto' : unsupported protocol '{rest[0] if rest else ''}'.",
                                 "luaproxy speaks 'proto h1', 'proto h2' and 'proto none' (TCP, no HTTP upgrade).")
            proto = rest.pop(0)
        elif opt == "accept-proxy":
            accept_proxy = True
        elif opt not in BIND_FLAGS:
            raise line.error(f"unsupported bind option '{opt}'.",
                             "luaproxy accepts name, process, thread, maxconn, backlog, id, v4v6 and the "
                             "TLS options (ssl, crt, crt-list, alpn, ciphers, verify, ca-file…).")
    for bind in binds:
        bind.name = name
        bind.tls = tls
        bind.accept_proxy = accept_proxy
        bind.proto = proto
    p.binds.extend(binds)


def _take_tls(line: Line, tls: TlsOptions, word: str, rest: list[str], where: str) -> bool:
    """A TLS keyword of a bind or server line (see worker.tls.options), with its value."""
    try:
        return tls.take(word, rest, where)
    except TlsError as exc:
        raise line.error(f"'{line.words[0]} {line.words[1]}' : {exc}") from None


@PROXY.register("timeout", ANY_PROXY, "timeout connect|client|server|http-request|http-keep-alive|... <time>")
def _timeout(p: ProxyConf, line: Line) -> None:
    args = expect_args(line, 2, 2, "a timeout name and a time, e.g. 'timeout connect 5s'")
    if args[0] not in TIMEOUTS:
        raise line.error(f"unknown timeout '{args[0]}'.", f"Expected one of {', '.join(TIMEOUTS)}.")
    try:
        p.timeouts[args[0]] = parse_time(args[1])
    except ValueError as exc:
        raise line.error(str(exc)) from None


@PROXY.register("contimeout", ANY_PROXY, "Old name of 'timeout connect'.")
def _contimeout(p: ProxyConf, line: Line) -> None:
    _timeout(p, Line(line.file, line.number, ("timeout", "connect", *line.words[1:])))


@PROXY.register("default_backend", FRONT, "Backend used when no use_backend rule matches.")
def _default_backend(p: ProxyConf, line: Line) -> None:
    (p.default_backend,) = expect_args(line, 1, 1, "a backend name")


@PROXY.register("use_backend", FRONT_ONLY, "use_backend <backend> [if|unless <cond>]")
def _use_backend(p: ProxyConf, line: Line) -> None:
    expect_args(line, 1, None, "a backend name and an optional condition")
    p.use_backends.append(RuleConf("use_backend", line.words[1:], line))


SERVER_VALUE_OPTIONS = ("weight", "maxconn", "inter", "fastinter", "downinter", "rise", "fall", "port",
                        "addr", "id", "cookie", "slowstart", "maxqueue", "minconn", "on-error",
                        "observe", "error-limit", "agent-port", "agent-inter", "agent-addr", "agent-send", "socks4",
                        "resolvers", "init-addr", "pool-max-conn", "pool-purge-delay", "proto",
                        "pool-low-conn", "track", "agent-addr", "agent-send", "resolve-prefer", "resolve-opts",
                        "resolve-net", "check-proto")
SERVER_FLAGS = ("check", "backup", "disabled", "enabled", "no-check", "non-stick", "tfo",
                "agent-check", "redir", "check-via-socks4")


@PROXY.register("dispatch", BACK[1:], "dispatch <addr:port>: the one destination of a backend without servers.")
def _dispatch(p: ProxyConf, line: Line) -> None:
    (addr,) = expect_args(line, 1, 1, "an address ADDR:PORT")
    addr = expand_env(addr)
    try:
        host, port = split_host_port(addr, need_port=True)
    except ValueError as exc:
        raise line.error(f"{exc}.") from None
    p.servers.append(ServerConf("<dispatch>", host, port, line))
    p.settings["http-reuse"] = [("never",)]  # haproxy treats dispatch connections as private


@PROXY.register("server", BACK[1:], "server <name> <addr:port> [weight N] [maxconn N] [check] [backup] ...")
def parse_server_line(p: ProxyConf, line: Line) -> None:
    """A ``server`` line; also reads ``add server``'s words (master.dynamic_servers)."""
    args = list(expect_args(line, 2, None, "a name and an address ADDR:PORT"))
    name, addr = args.pop(0), expand_env(args.pop(0))
    try:
        host, port = (unix_path(addr), 0) if unix_path(addr) else split_host_port(addr, need_port=False)
    except ValueError as exc:
        raise line.error(f"{exc}.") from None
    seen = len(p.settings.get("default-server", ()))
    server = ServerConf(name, host or "0.0.0.0", port or 0, line, defaults_seen=seen)  # ':80': any address
    args = [word for words in p.settings.get("default-server", []) for word in words] + args
    while args:
        opt = args.pop(0)
        if _take_send_proxy(line, server, opt, args) or _take_tls(line, server.tls, opt, args, SERVER):
            continue
        if opt in SERVER_VALUE_OPTIONS:
            if not args:
                raise line.error(f"server option '{opt}' expects a value.")
            value = args.pop(0)
            if opt == "weight":
                server.weight = to_int(line, value, "weight", 0)
            elif opt == "maxconn":
                server.maxconn = to_int(line, value, "maxconn", 0)
            else:
                server.options[opt] = value
        elif opt == "ws":
            mode = args.pop(0) if args else ""
            if mode not in ("auto", "h1", "h2"):
                raise line.error(f"server '{name}': 'ws' expects 'auto', 'h1' or 'h2', got '{mode}'.")
            server.options["ws"] = mode
        elif opt in SERVER_FLAGS:
            server.check = opt == "check" or (server.check and opt != "no-check")
            server.backup = server.backup or opt == "backup"
            server.disabled = server.disabled or opt == "disabled"
            if opt in ("agent-check", "check-via-socks4"):
                server.options[opt] = ""
        else:
            raise line.error(f"unknown server option '{opt}'.")
    if any(s.name == name for s in p.servers):
        raise line.error(f"server '{name}' is already defined in this backend.", "Give it another name.")
    p.servers.append(server)


def _take_send_proxy(line: Line, server: ServerConf, word: str, rest: list[str]) -> bool:
    """send-proxy, send-proxy-v2[-ssl[-cn]], proxy-v2-options and their no- forms (worker.conn.outbound)."""
    try:
        return server.send_proxy.take(word, rest)
    except ValueError as exc:
        raise line.error(f"server '{server.name}': {exc}.") from None


@PROXY.register("balance", BACK, "Load-balancing algorithm.")
def _balance(p: ProxyConf, line: Line) -> None:
    args = expect_args(line, 1, None, "an algorithm")
    algo = args[0].split("(")[0]
    if algo not in BALANCE and algo != "hdr":
        raise line.error(f"unknown balance algorithm '{args[0]}'.",
                         f"Expected one of {', '.join(BALANCE)}, hdr(name).")
    p.balance = tuple(args)


@PROXY.register("retries", BACK, "Connection attempts to a server after the first fails.")
def _retries(p: ProxyConf, line: Line) -> None:
    (n,) = expect_args(line, 1, 1, "a number")
    p.retries = to_int(line, n, "number of retries", 0)


@PROXY.register("maxconn", FRONT, "Maximum concurrent connections on this frontend.")
def _maxconn(p: ProxyConf, line: Line) -> None:
    (n,) = expect_args(line, 1, 1, "a number")
    p.maxconn = to_int(line, n, "number of connections", 0)


@PROXY.register("option", ANY_PROXY, "option <name> [args]")
def _option(p: ProxyConf, line: Line) -> None:
    args = expect_args(line, 1, None, "an option name")
    if args[0] not in OPTIONS:
        raise line.error(f"unknown option '{args[0]}'.")
    if args[0] == "redispatch" and len(args) > 1:
        if len(args) > 2:
            raise line.error("'option redispatch' takes at most one argument, the retry interval.")
        to_int(line, args[1], "redispatch interval", -(2**31))
    if args[0] == "http-restrict-req-hdr-names":
        if len(args) != 2 or args[1] not in RESTRICT_HDR_NAMES:
            raise line.error("'option http-restrict-req-hdr-names' expects 'preserve', 'delete' or 'reject'.")
        p.options[args[0]] = args[1]  # the policy, read by the stream
        return
    p.options[args[0]] = True
    p.settings.setdefault(f"option {args[0]}", []).append(args[1:])
    if args[0] in CHECK_OPTIONS:
        try:
            check_rules(args, ())
        except ValueError as exc:
            raise line.error(str(exc)) from None
        _own_check_rules(p)
        p.settings.pop(" inherited request", None)
        p.settings["health-check"] = [args]  # what the checks do: the last such option wins, as in HAProxy


@PROXY.register("no", ANY_PROXY, "no option <name> | no log: turn an inherited option or the loggers off.")
def _no(p: ProxyConf, line: Line) -> None:
    args = expect_args(line, 1, 2, "'option <name>' or 'log'")
    if args == ("log",):
        p.settings["log"] = []
        return
    if len(args) != 2 or args[0] != "option" or args[1] not in OPTIONS:
        raise line.error(f"'no' expects 'option <name>', got '{' '.join(args)}'.")
    if args[1] in NOT_NEGATABLE:
        raise line.error(f"negation/default is not supported for option '{args[1]}'.",
                         "Only on/off options take 'no'; override the others in the section instead.")
    p.options[args[1]] = False


def _own_check_rules(p: ProxyConf) -> bool:
    """A section's own check option or http-check/tcp-check lines replace the rules its defaults gave it, as
    HAProxy starts a new rule set then; returns True when that just happened."""
    owner = (p.line.file, str(p.line.number))
    if p.settings.get(" check-owner") == [owner]:
        return False
    p.settings[" check-owner"] = [owner]
    p.settings.pop("http-check", None)
    p.settings.pop("tcp-check", None)
    return True


def _check_rules(name: str, doc: str) -> None:
    def parse(p: ProxyConf, line: Line) -> None:
        expect_args(line, 1, None, doc)
        if name == "tcp-check":
            try:
                parse_rules([line.words[1:]])
            except ValueError as exc:
                raise line.error(str(exc)) from None
        if _own_check_rules(p) and name == "http-check":
            inherited = p.setting("health-check")
            if inherited is not None and inherited[0] == "httpchk" and len(inherited) > 1:
                p.settings[" inherited request"] = [()]
        if line.words[1:2] == ("send",) and p.settings.pop(" inherited request", None) is not None:
            p.settings["health-check"] = [("httpchk",)]  # an own send starts from the default request, as in 2.6
            p.settings["option httpchk"] = [()]
        p.settings.setdefault(name, []).append(line.words[1:])

    PROXY.register(name, BACK, doc)(parse)


_check_rules("http-check", "http-check send|expect|connect ...: the HTTP health-check rules.")
_check_rules("tcp-check", "tcp-check connect|send|send-binary|expect|comment ...: the health-check rules.")


@PROXY.register("acl", NO_DEFAULTS, "acl <name> <criterion> [flags] [operator] <value> ...")
def _acl(p: ProxyConf, line: Line) -> None:
    expect_args(line, 2, None, "a name, a criterion and values")
    p.acls.append(line)


def _rules(family: str, sections: tuple[str, ...], doc: str, sub_keywords: tuple[str, ...]) -> None:
    def parse(p: ProxyConf, line: Line) -> None:
        args = expect_args(line, 1, None, "an action")
        if sub_keywords:
            if args[0] == "inspect-delay":
                if len(args) != 2:
                    raise line.error(f"'{family} inspect-delay' expects a time.")
                try:
                    p.inspect_delay[family] = parse_time(args[1])
                except ValueError as exc:
                    raise line.error(str(exc)) from None
                return
            if args[0] not in sub_keywords:
                raise line.error(f"'{family}' expects {', '.join(sub_keywords)} or inspect-delay, "
                                 f"got '{args[0]}'.")
            if len(args) < 2:
                raise line.error(f"'{family} {args[0]}' expects an action.")
            p.add_rule(RuleConf(f"{family} {args[0]}", args[1:], line))
        else:
            p.add_rule(RuleConf(family, args, line))

    PROXY.register(family, sections, doc)(parse)


_rules("tcp-request", ANY_PROXY, "tcp-request content|connection|session <action> [cond]",
       ("content", "connection", "session"))
_rules("tcp-response", BACK, "tcp-response content <action> [cond]", ("content",))
_rules("http-request", ANY_PROXY, "http-request <action> [cond]", ())
_rules("http-response", ANY_PROXY, "http-response <action> [cond]", ())
_rules("http-after-response", ANY_PROXY, "http-after-response <action> [cond]: on every response sent, "
       "luaproxy's own included", ())


def _stored(name: str, sections: tuple[str, ...], doc: str, minimum: int = 1) -> None:
    def parse(p: ProxyConf, line: Line) -> None:
        if len(line.words) - 1 < minimum:
            raise line.error(f"'{name}' expects {'an argument' if minimum == 1 else f'{minimum} arguments'}.",
                             f"Usage: {doc}")
        p.settings.setdefault(name, []).append(line.words[1:])

    PROXY.register(name, sections, doc)(parse)


@PROXY.register("email-alert", BACK, "email-alert mailers|from|to|level|myhostname <value>: mail server events.")
def _email_alert(p: ProxyConf, line: Line) -> None:
    check_email_alert(line)
    p.settings.setdefault("email-alert", []).append(line.words[1:])


@PROXY.register("cookie", BACK, "cookie <name> [insert|rewrite|prefix] [indirect] [nocache] ...: cookie persistence.")
def _cookie(p: ProxyConf, line: Line) -> None:
    try:
        parse_cookie_line(list(line.words[1:]), parse_time)
    except ValueError as exc:
        raise line.error(f"'cookie' : {exc}.") from None
    p.settings["cookie"] = [line.words[1:]]


@PROXY.register("stats", ANY_PROXY, "stats enable|uri|realm|auth|scope|refresh|admin|hide-version|...: the stats page.")
def _stats(p: ProxyConf, line: Line) -> None:
    try:
        check_stats_line(line.words[1:], parse_time)
    except ValueError as exc:
        raise line.error(f"{exc}.") from None
    p.settings.setdefault("stats", []).append(line.words[1:])


_stored("filter", NO_DEFAULTS, "filter lua.<name> [args...]: a Lua filter (core.register_filter).")


@PROXY.register("compression", ANY_PROXY, "compression algo <name>... | type <mime>... | offload: HTTP compression.")
def _compression(p: ProxyConf, line: Line) -> None:
    try:
        compression_settings([line.words[1:]])
    except ValueError as exc:
        raise line.error(f"{exc}.", "Write 'compression algo gzip', 'compression type text/html' "
                                    "or 'compression offload'.") from None
    p.settings.setdefault("compression", []).append(line.words[1:])


@PROXY.register("errorfiles", ANY_PROXY, "errorfiles <http-errors name> [<code>...]: its pages (all or these).")
def _errorfiles(p: ProxyConf, line: Line) -> None:
    args = expect_args(line, 1, None, "the name of an http-errors section and optional status codes")
    if not all(code.isdigit() for code in args[1:]):
        raise line.error("'errorfiles' expects status codes after the section name.")
    p.settings.setdefault("errorfile", []).append(("errorfiles", *args))  # in order with errorfile lines


@PROXY.register("declare", FRONT_ONLY, "declare capture request|response len <n>: a capture slot.")
def _declare(p: ProxyConf, line: Line) -> None:
    args = expect_args(line, 4, 4, "'capture request|response len <length>'")
    if args[0] != "capture" or args[1] not in ("request", "response") or args[2] != "len" \
            or not args[3].isdigit():
        raise line.error("'declare' expects 'capture request|response len <length>'.")
    p.settings.setdefault("declare", []).append((str(line.number), args[1], args[3]))


@PROXY.register("log", ANY_PROXY, "log global | log <target> [len N] [format F] <facility> [<level>]: "
                                   "where this proxy logs.")
def _log(p: ProxyConf, line: Line) -> None:
    if line.words[1:] != ("global",):
        try:
            parse_log_server(line.words[1:])
        except ValueError as exc:
            raise line.error(str(exc)) from None
    p.settings.setdefault("log", []).append(line.words[1:])


for _name, _sections, _doc in (
    ("log-format", ANY_PROXY, "Format of this proxy's traffic logs."),
    ("dynamic-cookie-key", BACK, "dynamic-cookie-key <string>: the secret of 'cookie … dynamic' server cookies."),
    ("error-log-format", ANY_PROXY, "Format of the log line of a connection that failed its TLS handshake."),
    ("log-tag", ANY_PROXY, "The tag of this proxy's syslog lines."),
    ("description", NO_DEFAULTS, "Free text shown in stats."),
    ("id", NO_DEFAULTS, "Numeric proxy id."),
    ("errorfile", ANY_PROXY, "errorfile <code> <file>: replace an error page."),
    ("fullconn", BACK, "Backend load at which servers reach maxconn."),
    ("hash-type", BACK, "Hashing method for hash-based balancing."),
    ("default-server", BACK, "Default settings for server lines."),
    ("capture", FRONT_ONLY, "capture request|response header ..."),
    ("unique-id-format", FRONT, "Format of the unique request id."),
    ("unique-id-header", FRONT, "Header carrying the unique request id."),
    ("monitor-uri", FRONT, "URI answered with 200 for monitoring."),
    ("http-error", ANY_PROXY, "http-error status <code> [reply options]: this proxy's reply for a status."),
    ("http-reuse", BACK, "http-reuse never|safe|aggressive|always: sharing idle server connections."),
    ("use-server", BACK[1:], "use-server <server> [if|unless <cond>]: a server chosen before balancing."),
):
    _stored(_name, _sections, _doc, {"default-server": 0, "errorfile": 2, "http-error": 2}.get(_name, 1))
