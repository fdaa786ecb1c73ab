"""One process's Lua engine: the runtime, the API classes, the registry.

The master builds it, runs the body and init contexts, then forks: each
worker inherits it and runs actions, fetches, services and tasks on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from luaproxy.worker.custom_metrics import MetricSet
from luaproxy.worker.samples import (
    PatternLibrary,
    SampleError,
    SampleRegistry,
    from_native,
    parse_var_name,
    to_native,
)

from . import applet_http, channel, core, http, map, metrics, runner, samples, socket, stktable, txn
from .checks import lua_type, string
from .classes import LuaClass
from .contexts import Context, Run
from .errors import LuaApiError
from .registered import Registry
from .runtime import LuaRuntime
from .services import applet_field

ACTION_CODES = {"CONTINUE": 0, "STOP": 1, "YIELD": 2, "ERROR": 3, "DONE": 4, "DENY": 5, "ABORT": 6,
                "INVALID": 7}


@dataclass(slots=True)
class LuaLimits:
    """tune.lua.*: Lua running-time budgets (0 = none) and the forced-yield period."""

    session_timeout: float = 4.0
    task_timeout: float = 0.0
    service_timeout: float = 4.0
    forced_yield: int = runner.DEFAULT_FORCED_YIELD


class LuaEngine:
    def __init__(self, logger: Any, sample_registry: SampleRegistry, library: PatternLibrary,
                 max_memory: int | None = None, limits: LuaLimits | None = None,
                 metric_set: MetricSet | None = None) -> None:
        self.logger = logger
        self.limits = limits or LuaLimits()
        self.library = library
        self.metrics = metric_set if metric_set is not None else MetricSet()
        runner.observer = metrics.LuaCallMetrics(self.metrics).observe
        self.runtime = LuaRuntime(max_memory=max_memory)
        runner.install_hooks(self.runtime)
        self.registry = Registry()
        self.core = core.Core(self.registry, logger)
        self.pattern_updates = map.PatternUpdates(library)
        lua_globals = self.runtime.globals
        lua_globals.core = core.build(self.runtime, self.core)
        for name, function in self.pattern_updates.functions().items():
            lua_globals.core[name] = self.runtime.func(function)
        lua_globals.core.tcp = self.runtime.func(self._tcp)
        lua_globals.act = self.runtime.table_from(ACTION_CODES)
        txn_functions = {**txn.FUNCTIONS, "get_headers": self._get_headers, "set_var": self._set_var,
                         "get_var": self._get_var}
        self.classes = {
            "TXN": LuaClass(self.runtime, "TXN", txn_functions),
            "Channel": LuaClass(self.runtime, "Channel", channel.FUNCTIONS, channel.ALIASES),
            "Fetches": LuaClass(self.runtime, "Fetches", samples.fetch_functions(sample_registry, False)),
            "StringFetches": LuaClass(self.runtime, "Fetches", samples.fetch_functions(sample_registry, True)),
            "Converters": LuaClass(self.runtime, "Converters",
                                   samples.converter_functions(sample_registry, False)),
            "StringConverters": LuaClass(self.runtime, "Converters",
                                         samples.converter_functions(sample_registry, True)),
            "HTTP": LuaClass(self.runtime, "HTTP", http.functions(self.runtime), http.ALIASES),
            "AppletHTTP": LuaClass(self.runtime, "AppletHTTP", applet_http.FUNCTIONS),
            "Socket": LuaClass(self.runtime, "Socket", socket.FUNCTIONS),
            "Map": LuaClass(self.runtime, "Map", map.FUNCTIONS),
            "Metric": LuaClass(self.runtime, "Metric", metrics.FUNCTIONS),
            "StickTable": LuaClass(self.runtime, "StickTable", stktable.functions(self.runtime)),
        }
        metric_table = self.runtime.table()
        for kind, create in metrics.constructors(self.metrics, self.classes["Metric"].new).items():
            metric_table[kind] = self.runtime.func(create)
        lua_globals.core.metrics = metric_table
        txn_class = self.classes["TXN"]
        done = self.runtime.prelude.done_method(txn_class.metatable, txn.mark_done)
        txn_class.add_lua("done", done)
        txn_class.add_lua("close", done)
        http_class = self.classes["HTTP"]
        http_class.add_lua("req", self.runtime.table_from({"set_uri": http_class.methods.req_set_uri}))
        map_table = self.runtime.table_from(map.constants())
        map_table.new = self.runtime.func(self._new_map)
        lua_globals.Map = map_table
        self.runtime.prelude.lazy_parts(self.runtime.table_from({n: c.metatable for n, c in self.classes.items()}),
                                        self.runtime.func(_txn_part), self.runtime.func(self._applet_field))
        self._new_txn = self.classes["TXN"].new
        self._new_applet = self.runtime.prelude.new_applet

    # Object factories.

    def _tcp(self) -> Any:
        """core.tcp(): a new Socket object."""
        return self.classes["Socket"].new(socket.tcp())

    def _new_map(self, file: Any, method: Any) -> Any:
        return self.classes["Map"].new(map.new(self.library, file, method))

    def stick_table_object(self, table: Any) -> Any:
        """The StickTable object for a proxy's stick table (nil when it has none): the Proxy class's
        ``stktable`` field."""
        return None if table is None else self.classes["StickTable"].new(table)

    def txn_object(self, state: Any) -> Any:
        """The TXN Lua object of a transaction, built once and cached on it (its parts on first use)."""
        if state.lua is None:
            state.lua = self._new_txn(state)
        return state.lua

    def applet_object(self, state: Any, txn_state: Any) -> Any:
        """An AppletHTTP object; its request fields and fetches are built on first use."""
        return self._new_applet(self.classes["AppletHTTP"].metatable, state, txn_state)

    def _applet_field(self, state: Any, name: str) -> Any:
        return applet_field(self.runtime, state.txn.request, name)

    # TXN functions that need the runtime or the sample engine.

    def _get_headers(self, state: Any) -> Any:
        if state.request is None:
            return self.runtime.table()
        return http.headers_table(self.runtime, state.request.headers)

    def _set_var(self, state: Any, name: Any, value: Any, if_exists: Any = False) -> Any:
        var = _var_name(name, "set_var")
        smp = from_native(value.encode("latin-1") if isinstance(value, str) else value)
        if smp is None:
            raise LuaApiError(f"bad argument #3 to 'set_var' (unsupported {lua_type(value)} value)")
        if if_exists:
            return state.vars.set_if_exists(var, smp)
        return state.vars.set(var, smp)

    def _get_var(self, state: Any, name: Any) -> Any:
        smp = state.vars.get(_var_name(name, "get_var"))
        return None if smp is None else to_native(smp)

    # Running Lua.

    def load_file(self, path: str, name: str | None = None) -> None:
        """Run a file's body context; a syntax or runtime error raises LuaApiError with file:line."""
        chunk = self.runtime.load_file(path, name)
        result = runner.call(self.runtime, chunk, Run(Context.BODY, path))
        if result.outcome is not runner.Outcome.OK:
            raise LuaApiError(result.error)

    def run_inits(self) -> None:
        for function in self.registry.inits:
            result = runner.call(self.runtime, function, Run(Context.INIT, "init"))
            if result.outcome is not runner.Outcome.OK:
                raise LuaApiError(result.error)

    def global_function(self, name: str) -> Any | None:
        value = self.runtime.globals[name]
        return value if lua_type(value) == "function" else None

    def sample_result(self, result: runner.Result, label: str) -> Any:
        """A fetch's or converter's value; a failure is logged and gives no sample."""
        if result.outcome is runner.Outcome.OK:
            return result.values[0] if result.values else None
        what = "execution timeout" if result.outcome is runner.Outcome.TIMEOUT else "runtime error"
        self.logger.alert(f"{label}: {what}: {result.error}")
        return None


def _var_name(name: Any, function: str) -> Any:
    text = string(name, function, 2)
    try:
        return parse_var_name(text)
    except SampleError as exc:
        raise LuaApiError(f"bad argument #2 to '{function}' ({exc})") from None


def _txn_part(state: Any, name: str) -> Any:
    """The Python state behind txn.req, txn.res and txn.http (HTTP mode only)."""
    if name == "http":
        return state if state.http_mode else None
    return state.req if name == "req" else state.res
