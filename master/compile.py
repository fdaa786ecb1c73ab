"""Compile the parsed configuration into the proxies a worker runs.

Runs after the Lua body context, so ``lua.NAME`` and ``lua FN`` can be checked
against what Lua registered; every error names its configuration line.
"""

from __future__ import annotations

from luaproxy.lua_api.actions import LuaAction
from luaproxy.lua_api.engine import LuaEngine
from luaproxy.worker.backend.balance import RoundRobin
from luaproxy.worker.proxy import Proxy, Rule, Server, SwitchingRule
from luaproxy.worker.rules import actions_tcp
from luaproxy.worker.rules.errors import RuleError

from .config.errors import ConfigError, ConfigErrors, did_you_mean
from .config.model import Config, ProxyConf, RuleConf

RULESET_KINDS = {"tcp-request content": "tcp-req", "tcp-response content": "tcp-res"}


class LuaActions:
    """Resolves Lua names in rules against the engine (the ActionEnv of worker.rules)."""

    def __init__(self, engine: LuaEngine) -> None:
        self.engine = engine

    def lua_action(self, kind: str, name: str, args: tuple[str, ...]) -> LuaAction:
        registered = self.engine.registry.actions.get(name)
        if registered is None:
            raise RuleError(f"'lua.{name}' is not a registered Lua action.",
                            did_you_mean(name, self.engine.registry.actions) or
                            "Register it with core.register_action() in a lua-load file.")
        if kind not in registered.kinds:
            raise RuleError(f"Lua action 'lua.{name}' is registered for {', '.join(registered.kinds)}, "
                            f"not for {kind}.", "Add the kind to its core.register_action() call.")
        if len(args) < registered.nb_args:
            raise RuleError(f"Lua action 'lua.{name}' expects {registered.nb_args} argument(s), "
                            f"got {len(args)}.")
        return LuaAction(self.engine, name, registered.function, args)

    def lua_function_action(self, name: str, args: tuple[str, ...]) -> LuaAction:
        function = self.engine.global_function(name)
        if function is None:
            raise RuleError(f"Lua function '{name}' does not exist once the lua-load files have run.",
                            "Define it as a global function in a lua-load file.")
        return LuaAction(self.engine, name, function, args)


def compile_config(config: Config, engine: LuaEngine) -> list[Proxy]:
    errors: list[ConfigError] = []
    env = LuaActions(engine)
    proxies = [_new_proxy(conf) for conf in config.proxies]
    backends = {p.name: p for p in proxies if p.has_backend}
    for conf, proxy in zip(config.proxies, proxies, strict=True):
        if conf.mode == "http":
            errors.append(conf.line.error(f"{conf.kind} '{conf.name}': mode http is not available yet.",
                                          "Use mode tcp; HTTP mode is tracked in issue #4."))
        for ruleset, rules in conf.rules.items():
            for rule_conf in rules:
                try:
                    proxy.rules.setdefault(ruleset, []).append(_compile_rule(rule_conf, env))
                except RuleError as exc:
                    errors.append(rule_conf.line.error(f"'{ruleset}': {exc.message}", exc.hint))
        if conf.default_backend:
            proxy.default_backend = backends.get(conf.default_backend)
        for rule_conf in conf.use_backends:
            try:
                proxy.switching_rules.append(_switching_rule(rule_conf, backends))
            except RuleError as exc:
                errors.append(rule_conf.line.error(f"'use_backend': {exc.message}", exc.hint))
    if errors:
        raise ConfigErrors(errors)
    return proxies


def _new_proxy(conf: ProxyConf) -> Proxy:
    servers = [Server(s.name, s.host, s.port, s.weight, s.maxconn, s.backup, s.disabled, s.check, i + 1)
               for i, s in enumerate(conf.servers)]
    return Proxy(conf.name, conf.id, conf.mode, conf.has_frontend, conf.has_backend,
                 timeouts=dict(conf.timeouts), inspect_delay=dict(conf.inspect_delay), servers=servers,
                 balancer=RoundRobin(servers), retries=conf.retries, maxconn=conf.maxconn,
                 options=dict(conf.options))


def _compile_rule(rule_conf: RuleConf, env: LuaActions) -> Rule:
    action_words, keyword, _condition = rule_conf.split_condition()
    if keyword:
        raise RuleError("conditions (if/unless) are not available yet.", "They are tracked in issue #3.")
    kind = RULESET_KINDS.get(rule_conf.ruleset)
    if kind is None:
        raise RuleError("these rules are not available yet.", "HTTP rules are tracked in issue #4.")
    if not action_words:
        raise RuleError("missing action before 'if'/'unless'.")
    action = actions_tcp.parse(kind, action_words, env)
    return Rule(action, where=f"{rule_conf.line.file}:{rule_conf.line.number}")


def _switching_rule(rule_conf: RuleConf, backends: dict[str, Proxy]) -> SwitchingRule:
    words, keyword, _ = rule_conf.split_condition()
    if keyword:
        raise RuleError("conditions (if/unless) are not available yet.", "They are tracked in issue #3.")
    backend = backends.get(words[0])
    if backend is None:
        raise RuleError(f"unknown backend '{words[0]}'.", did_you_mean(words[0], backends))
    return SwitchingRule(backend)
