"""What rule parsers need while the configuration is compiled: samples, conditions, Lua.

One CompileEnv per proxy: it knows the proxy's ACLs, the shared sample
registry and pattern library, and the Lua engine, and it implements the
ActionEnv protocols of ``worker.rules`` so that worker code never imports Lua.
"""

from __future__ import annotations

from typing import Any

from luaproxy.lua_api.actions import LuaAction
from luaproxy.lua_api.engine import LuaEngine
from luaproxy.lua_api.errors import LuaApiError
from luaproxy.lua_api.services import LuaHttpService, LuaTcpService
from luaproxy.worker.exporter import PrometheusExporter
from luaproxy.worker.resolvers import resolution
from luaproxy.worker.rules.errors import RuleError
from luaproxy.worker.rules.verdict import Verdict
from luaproxy.worker.samples import (
    AclSet,
    Condition,
    PatternLibrary,
    Sample,
    SampleError,
    SampleRegistry,
    SampleType,
    parse_expr,
    parse_log_format,
    parse_var_name,
)
from luaproxy.worker.samples.vars import check_conditions

from .config.errors import did_you_mean


class CompileEnv:
    def __init__(self, engine: LuaEngine, registry: SampleRegistry, library: PatternLibrary,
                 acls: AclSet, origin: tuple[str, int] = ("", 0), tables: dict[str, Any] | None = None,
                 own_table: str = "", ruleset: str = "",
                 error_sections: dict[str, dict[int, str]] | None = None,
                 caches: dict[str, Any] | None = None, resolvers: dict[str, Any] | None = None) -> None:
        self.engine = engine
        self.registry = registry
        self.library = library
        self.acls = acls
        self.origin = origin
        self.tables = tables or {}
        self.own_table = own_table
        self.ruleset = ruleset
        self.error_sections = error_sections or {}
        self.caches = caches or {}
        self.resolvers = resolvers or {}
        self.capture_slots: dict[int, int] = {}  # line number of an http-request capture ... len -> slot

    def at(self, origin: tuple[str, int], ruleset: str = "") -> CompileEnv:
        """The same environment, reporting errors at another config line (of *ruleset*)."""
        env = CompileEnv(self.engine, self.registry, self.library, self.acls, origin, self.tables,
                         self.own_table, ruleset, self.error_sections, self.caches, self.resolvers)
        env.capture_slots = self.capture_slots
        return env

    def capture_slot(self) -> int | None:
        """The slot allocated to the ``http-request capture ... len`` rule being compiled."""
        return self.capture_slots.get(self.origin[1])

    def cache(self, name: str) -> Any:
        """The store of one ``cache`` section; RuleError when there is none."""
        cache = self.caches.get(name)
        if cache is None:
            raise RuleError(f"unable to find cache '{name}'.", did_you_mean(name, self.caches))
        return cache

    def resolver(self, name: str) -> Any:
        """do-resolve's resolver of one ``resolvers`` section (one per section, shared by the rules)."""
        resolver = self.resolvers.get(name)
        if resolver is None:
            raise RuleError(f"can't find resolvers section '{name}'.", did_you_mean(name, self.resolvers))
        resolution.load()
        return resolver

    def http_errors(self, name: str) -> dict[int, str] | None:
        """The pages of one ``http-errors`` section, or None."""
        return self.error_sections.get(name)

    # Samples.

    def condition(self, words: tuple[str, ...]) -> Condition:
        try:
            return self.acls.parse_condition(words, self.origin)
        except SampleError as exc:
            raise RuleError(str(exc)) from None

    def expression(self, text: str) -> Any:
        try:
            return parse_expr(text, self.registry, self.library, origin=self.origin)
        except SampleError as exc:
            raise RuleError(str(exc)) from None

    def stick_table(self, name: str | None) -> Any:
        """A stick table by proxy name, or this proxy's own; RuleError when there is none."""
        wanted = name or self.own_table
        table = self.tables.get(wanted)
        if table is None:
            if name:
                raise RuleError(f"unable to find table '{name}'.", did_you_mean(name, self.tables))
            raise RuleError("no table was declared in this proxy and none was given with 'table <name>'.")
        return table

    def log_format(self, text: str, mandatory: bool = False) -> Any:
        """A log-format string; *mandatory* for a log line ('-' for missing values, +Q honoured)."""
        try:
            return parse_log_format(text, self.registry, self.library, mandatory=mandatory, origin=self.origin)
        except SampleError as exc:
            raise RuleError(str(exc)) from None

    def set_var(self, name: str, expression: str, fmt: bool = False) -> Any:
        """set-var(name[,cond...]) <expr>, or set-var-fmt(...) <log-format> (*fmt*: a string)."""
        var_text, _, condition_text = name.partition(",")
        try:
            var = parse_var_name(var_text)
            conditions = check_conditions(condition_text.split(",")) if condition_text else ()
            if fmt:
                log_format = parse_log_format(expression, self.registry, self.library, origin=self.origin)
            else:
                expr = parse_expr(expression, self.registry, self.library, origin=self.origin)
        except SampleError as exc:
            raise RuleError(str(exc)) from None

        def set_var(txn: Any) -> Verdict:
            smp = expr.evaluate(txn)
            if smp is not None:
                txn.vars.set(var, smp, conditions)
            return Verdict.CONTINUE

        def set_var_fmt(txn: Any) -> Verdict:
            txn.vars.set(var, Sample(SampleType.STR, log_format.render(txn)), conditions)
            return Verdict.CONTINUE

        return set_var_fmt if fmt else set_var

    def sample(self, expression: str) -> Any:
        """A compiled sample expression (``evaluate(txn)`` gives a Sample or None)."""
        try:
            return parse_expr(expression, self.registry, self.library, origin=self.origin)
        except SampleError as exc:
            raise RuleError(str(exc)) from None

    def unset_var(self, name: str) -> Any:
        try:
            var = parse_var_name(name)
        except SampleError as exc:
            raise RuleError(str(exc)) from None

        def unset_var(txn: Any) -> Verdict:
            txn.vars.unset(var)
            return Verdict.CONTINUE

        return unset_var

    def pattern_update(self, operation: str, file: str, key: Any, value: Any) -> Any:
        kind = "map" if operation.endswith("map") else "acl"
        try:
            if kind == "map":
                self.library.load_map(file, self.origin)
            else:
                self.library.load_acl_file(file, self.origin)
        except SampleError as exc:
            raise RuleError(str(exc)) from None
        updates = self.engine.pattern_updates

        def update(txn: Any) -> Verdict:
            try:
                updates.apply(operation, file, key.render(txn), value.render(txn) if value else None)
            except LuaApiError as exc:
                txn.log(3, f"{operation}({file}): {exc}")
            return Verdict.CONTINUE

        return update

    # Lua.

    def lua_action(self, kind: str, name: str, args: tuple[str, ...]) -> LuaAction:
        registered = self.engine.registry.actions.get(name)
        if registered is None:
            raise RuleError(f"'lua.{name}' is not a registered Lua action.",
                            did_you_mean(name, self.engine.registry.actions) or
                            "Register it with core.register_action() in a lua-load file.")
        entry = registered.for_kind(kind)
        if entry is None:
            raise RuleError(f"Lua action 'lua.{name}' is registered for {', '.join(registered.kinds)}, "
                            f"not for {kind}.", "Add the kind to its core.register_action() call.")
        function, nb_args = entry
        if len(args) < nb_args:
            raise RuleError(f"Lua action 'lua.{name}' expects {nb_args} argument(s), got {len(args)}.")
        return LuaAction(self.engine, name, function, args)

    def lua_function_action(self, name: str, args: tuple[str, ...]) -> LuaAction:
        function = self.engine.global_function(name)
        if function is None:
            raise RuleError(f"Lua function '{name}' does not exist once the lua-load files have run.",
                            "Define it as a global function in a lua-load file.")
        return LuaAction(self.engine, name, function, args)

    def service(self, name: str) -> Any:
        if name == "prometheus-exporter":
            return PrometheusExporter()
        if not name.startswith("lua."):
            raise RuleError(f"unknown service '{name}'.",
                            "Use prometheus-exporter or lua.<name> (core.register_service).")
        registered = self._lua_service(name)
        if registered.mode != "http":
            raise RuleError(f"Lua service '{name}' is a {registered.mode} service; http-request needs an "
                            "http one.")
        return LuaHttpService(self.engine, registered.name, registered.function)

    def tcp_service(self, name: str) -> Any:
        if not name.startswith("lua."):
            raise RuleError(f"unknown service '{name}'.", "Use lua.<name> (core.register_service(name, 'tcp', fn)).")
        registered = self._lua_service(name)
        if registered.mode != "tcp":
            raise RuleError(f"Lua service '{name}' is an {registered.mode} service; tcp-request content needs a "
                            "tcp one.", "Use 'http-request use-service' for an http service.")
        return LuaTcpService(self.engine, registered.name, registered.function)

    def _lua_service(self, name: str) -> Any:
        """The service ``lua.<name>`` names, of either mode; RuleError when no script registered it."""
        registered = self.engine.registry.services.get(name[4:])
        if registered is None:
            raise RuleError(f"'{name}' is not a registered Lua service.",
                            did_you_mean(name[4:], self.engine.registry.services) or
                            "Register it with core.register_service() in a lua-load file.")
        return registered

    def lua_tcp_filter(self, name: str, args: tuple[str, ...]) -> Any:
        """``filter lua.NAME`` in a TCP proxy: what makes each stream's instance; None when its function
        returned nil."""
        try:
            return self.engine.tcp_filter(name, args)
        except LuaApiError as exc:
            raise RuleError(str(exc), did_you_mean(name, self.engine.registry.filters) or
                            "Register it with core.register_filter() in a lua-load file.") from None

    def lua_filter(self, name: str, args: tuple[str, ...]) -> tuple[LuaAction, LuaAction] | None:
        """The request and response actions of ``filter lua.NAME``; None when its function returned nil."""
        try:
            made = self.engine.filter_actions(name, args)
        except LuaApiError as exc:
            raise RuleError(str(exc), did_you_mean(name, self.engine.registry.filters) or
                            "Register it with core.register_filter() in a lua-load file.") from None
        if made is None:
            return None
        return (LuaAction(self.engine, f"filter lua.{name}", made[0], ()),
                LuaAction(self.engine, f"filter lua.{name}", made[1], ()))
