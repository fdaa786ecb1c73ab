"""One process's Lua engine: the runtime, the API classes, the registry.

The master builds it, runs the body and init contexts, then forks: each
worker inherits it and runs actions, fetches, services and tasks on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from luaproxy.worker.custom_metrics import MetricSet
from luaproxy.worker.http import pages
from luaproxy.worker.samples import (
    PatternLibrary,
    Sample,
    SampleError,
    SampleRegistry,
    SampleType,
    from_native,
    to_native,
)
from luaproxy.worker.txn import handle_of

from . import (
    applet_http,
    applet_tcp,
    channel,
    core,
    core_extras,
    filters,
    http,
    httpclient,
    map,
    metrics,
    proxy,
    regex,
    runner,
    samples,
    socket,
    stktable,
    tcp_filters,
    txn,
)
from .checks import lua_type, string
from .classes import LuaClass
from .contexts import Context, Run
from .errors import LuaApiError
from .registered import Registry
from .runtime import LuaRuntime
from .services import applet_field

BINARY = SampleType.BIN
"""What set_var stores a Lua string as, by module name (an Enum class's attribute costs ten times a global's)."""
STRING_SAMPLES_KEPT = 1024
"""How many of set_var's string samples string_sample remembers; when full it starts afresh."""
STRING_SAMPLE_KEPT_LENGTH = 256
"""The longest string whose sample string_sample remembers: the store stays within about 256 KB, whatever a
script sets its variables to."""
_string_samples: dict[str, Sample] = {}


def string_sample(value: str) -> Sample:
    """The sample set_var stores for a Lua string: binary, as HAProxy stores it.  Samples are never changed, so
    the same string again (an action setting a variable from the client's address or a header on every request)
    gets the one made before: its encoding and a new object cost about 1.5k machine instructions."""
    if len(value) > STRING_SAMPLE_KEPT_LENGTH:
        return Sample(BINARY, value.encode("latin-1"))
    smp = _string_samples.get(value)
    if smp is None:
        if len(_string_samples) >= STRING_SAMPLES_KEPT:
            _string_samples.clear()
        smp = _string_samples[value] = Sample(BINARY, value.encode("latin-1"))
    return smp
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
                 metric_set: MetricSet | None = None, call_durations: bool = False) -> None:
        self.logger = logger
        self.info_facts: Any = None
        """Set by the worker: a callable giving this process's show-info figures for core.get_info()."""
        self.limits = limits or LuaLimits()
        self.library = library
        self.metrics = metric_set if metric_set is not None else MetricSet()
        self.call_metrics = metrics.LuaCallMetrics(self.metrics, call_durations)
        runner.observer = self.call_metrics.observe
        self.runtime = LuaRuntime(max_memory=max_memory)
        runner.install_hooks(self.runtime)
        self.registry = Registry()
        self.core = core.Core(self.registry, logger)
        self.pattern_updates = map.PatternUpdates(library)
        self.server_updates = proxy.ServerUpdates(logger)
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
            "Channel": LuaClass(self.runtime, "Channel", channel.functions_of("req"), channel.ALIASES),
            "Fetches": LuaClass(self.runtime, "Fetches", samples.fetch_functions(sample_registry, False)),
            "StringFetches": LuaClass(self.runtime, "Fetches", samples.fetch_functions(sample_registry, True)),
            "Converters": LuaClass(self.runtime, "Converters",
                                   samples.converter_functions(sample_registry, False)),
            "StringConverters": LuaClass(self.runtime, "Converters",
                                         samples.converter_functions(sample_registry, True)),
            "HTTP": LuaClass(self.runtime, "HTTP", http.functions(self.runtime), http.ALIASES),
            "AppletHTTP": LuaClass(self.runtime, "AppletHTTP", {**applet_http.FUNCTIONS, **self._applet_vars()},
                                   handles=True),
            "AppletTCP": LuaClass(self.runtime, "AppletTCP", {**applet_tcp.FUNCTIONS, **self._applet_vars()}),
            "Socket": LuaClass(self.runtime, "Socket", socket.FUNCTIONS),
            "Map": LuaClass(self.runtime, "Map", map.FUNCTIONS),
            "Metric": LuaClass(self.runtime, "Metric", metrics.FUNCTIONS),
            "Proxy": LuaClass(self.runtime, "Proxy", proxy.proxy_functions(self.server_updates)),
            "Server": LuaClass(self.runtime, "Server", proxy.server_functions(self.server_updates)),
            "Listener": LuaClass(self.runtime, "Listener", {}),
            "HTTPMessage": LuaClass(self.runtime, "HTTPMessage", filters.message_functions(
                self.runtime, http.functions(self.runtime))),
            "HTTPClient": LuaClass(self.runtime, "HTTPClient", httpclient.functions(self.runtime)),
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
        txn_class.add_lua("reply", self.runtime.prelude.new_reply)
        self.runtime.prelude.set_reason(self.runtime.func(pages.reason))
        applet_class = self.classes["AppletHTTP"]
        self.runtime.prelude.applet_http_head(applet_class.metatable, applet_class.methods, applet_http.set_status,
                                              applet_http.add_header, applet_http.check_body,
                                              applet_http.deliver, self.runtime.func(applet_http.state_of))
        http_class = self.classes["HTTP"]
        http_class.add_lua("req", self.runtime.table_from({"set_uri": http_class.methods.req_set_uri}))
        map_table = self.runtime.table_from(map.constants())
        map_table.new = self.runtime.func(self._new_map)
        lua_globals.Map = map_table
        self._install_core_helpers()
        response_channel = LuaClass(self.runtime, "Channel", channel.functions_of("res"), channel.ALIASES)
        """txn.res: the Channel class again, its methods on the response side (not listed on its own)."""
        self.runtime.prelude.lazy_parts(self.runtime.table_from({**{n: c.metatable for n, c in self.classes.items()},
                                                                 "ResponseChannel": response_channel.metatable}),
                                        self.runtime.func(self._applet_field))
        self._new_txn = self.runtime.prelude.new_txn
        self.txn_metatable = self.classes["TXN"].metatable
        self.applet_metatable = self.classes["AppletHTTP"].metatable
        self.tcp_applet_metatable = self.classes["AppletTCP"].metatable
        self._new_applet = self.runtime.prelude.new_applet

    def _install_core_helpers(self) -> None:
        """haproxy 2.2-2.6's additions to core and act, and the Regex and Concat classes."""
        lua_globals = self.runtime.globals
        core_extras.install(self.runtime, lua_globals.core,
                            lambda: self.info_facts() if self.info_facts is not None else {})
        lua_globals.core.concat = self.runtime.prelude.new_concat
        lua_globals.core.done = self.runtime.prelude.core_done
        lua_globals.core.httpclient = self.runtime.func(lambda: self.classes["HTTPClient"].new(httpclient.new()))
        lua_globals.act.wake_time = self.runtime.func(core.wake_time)
        filter_table = self.runtime.table_from(filters.CONSTANTS)
        self._filter_driver = self.runtime.lua.execute(filters.DRIVER)
        self._filter_slots = 0
        filter_table.register_data_filter = self._filter_driver.register
        filter_table.unregister_data_filter = self._filter_driver.unregister
        filter_table.wake_time = self.runtime.func(lambda *args: None)
        lua_globals.filter = filter_table
        self._rawget = self.runtime.lua.eval("rawget")
        self._setmetatable = self.runtime.lua.eval("setmetatable")
        self.classes["Regex"] = LuaClass(self.runtime, "Regex", {
            "exec": regex.exec_, "match": self._regex_match})
        lua_globals.Regex = self.runtime.table_from({"new": self.runtime.func(self._new_regex)})

    def attach_proxies(self, proxies: list[Any], listener_counts: dict[str, int], maxconn: int = 0) -> None:
        """Once the configuration is compiled: core.proxies, core.backends and core.frontends (*maxconn*: the
        global one, which get_stats() reports as a frontend's limit)."""
        core_table = self.runtime.globals.core
        core_table.proxies, core_table.backends, core_table.frontends = proxy.build_tables(
            self.runtime, self.classes, proxies, listener_counts, self.server_updates, maxconn)

    def filter_actions(self, name: str, args: tuple[str, ...]) -> tuple[Any, Any] | None:
        """``filter lua.NAME args``: the (request, response) callables, or None when the Lua function declined.

        Raises LuaApiError for an unknown filter or a failing configuration function."""
        conf = self.filter_conf(name, args)
        if conf is None:
            return None
        make = self._filter_driver.make
        new_message = self.runtime.func(self._new_message)
        label = f"filter lua.{name}"
        slot = self._filter_slots = self._filter_slots + 1  # where the driver keeps its payload stage per TXN

        def attach(message: Any, slot: int) -> bool:
            return filters.attach_payload(self, label, self._rawget(message, 0), slot, self._filter_driver)

        attach_function = self.runtime.func(attach)
        return (make(conf, "req", new_message, attach_function, slot),
                make(conf, "res", new_message, attach_function, slot))

    def filter_conf(self, name: str, args: tuple[str, ...]) -> Any:
        """The filter object ``filter lua.NAME args`` declares (its registered function's answer), or None
        when the class has no ``new`` or the function returned nil.  Raises LuaApiError as filter_actions."""
        registered = self.registry.filters.get(name)
        if registered is None:
            raise LuaApiError(f"'lua.{name}' is not a registered Lua filter")
        if lua_type(registered.cls.new) != "function":
            return None
        instance = self._setmetatable(self.runtime.table(), registered.cls)
        result = runner.call(self.runtime, registered.function, Run(Context.BODY, name), instance,
                             self.runtime.table(*args))
        if result.outcome is not runner.Outcome.OK:
            raise LuaApiError(result.error)
        return result.values[0] if result.values else None

    def tcp_filter(self, name: str, args: tuple[str, ...]) -> Any:
        """``filter lua.NAME args`` in a TCP proxy: its lua_api.tcp_filters.LuaTcpFilterConf, or None."""
        conf = self.filter_conf(name, args)
        return None if conf is None else tcp_filters.LuaTcpFilterConf(self, name, conf, self._filter_driver)

    def _new_message(self, txn_object: Any, side: str, channel: Any) -> Any:
        state = txn.transaction(self._rawget(txn_object, 0))
        message = self.classes["HTTPMessage"].new(filters.MessageState(state, side))
        message.channel = channel
        return message

    def _new_regex(self, pattern: Any, case_sensitive: Any = True) -> tuple[bool, Any]:
        ok, compiled = regex.compile_regex(pattern, case_sensitive)
        return (True, self.classes["Regex"].new(compiled)) if ok else (False, compiled)

    def _regex_match(self, compiled: Any, text: Any) -> tuple[bool, Any]:
        ok, groups = regex.match(compiled, text)
        return ok, self.runtime.table(*groups)

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
            state.lua = self._new_txn(self.txn_metatable, handle_of(state), state.http_mode)
        return state.lua

    def tcp_applet_object(self, state: Any) -> Any:
        """An AppletTCP object; its fetches and converters are built on first use.  (A service's
        applet is made by the coroutine that runs it: prelude.service_launcher.)"""
        return self._new_applet(self.tcp_applet_metatable, state)

    def _applet_vars(self) -> dict[str, Any]:
        """set_var/get_var/unset_var of both applet classes: the variables of the applet's transaction."""
        return {"set_var": lambda applet, *args: self._set_var(applet.txn, *args),
                "get_var": lambda applet, name: self._get_var(applet.txn, name),
                "unset_var": lambda applet, name: txn.unset_var(applet.txn, name)}

    def _applet_field(self, state: Any, name: str) -> Any:
        """A request field of an AppletHTTP, or ("txn") the transaction an applet's fetches work on."""
        if name == "txn":
            return state.txn
        return applet_field(self.runtime, state.txn.request, name)

    # TXN functions that need the runtime or the sample engine.

    def _get_headers(self, state: Any) -> Any:
        state = txn.transaction(state)
        if state.request is None:
            return self.runtime.table()
        return http.headers_table(self.runtime, state.request.headers)

    def _set_var(self, state: Any, name: Any, value: Any, if_exists: Any = False) -> Any:
        """A Lua string is stored as binary, as HAProxy stores it; a name checked before is taken from
        var_name's cache here (set_var runs on every request: two calls fewer)."""
        state = txn.transaction(state)
        smp = string_sample(value) if type(value) is str else from_native(value)
        if smp is None:
            raise LuaApiError(f"bad argument #3 to 'set_var' (unsupported {lua_type(value)} value)")
        if if_exists:
            try:
                return state.vars.set_if_exists(string(name, "set_var", 2), smp)
            except SampleError:
                return False
        var = txn.checked_names.get(name) if type(name) is str else None
        if var is None:
            var = txn.var_name(name, "set_var")
        return var is not None and state.vars.set(var, smp)

    def _get_var(self, state: Any, name: Any) -> Any:
        state = txn.transaction(state)
        var = txn.checked_names.get(name) if type(name) is str else None  # as _set_var: one call fewer
        if var is None:
            var = txn.var_name(name, "get_var")
        smp = None if var is None else state.vars.get(var)
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
        runner.log_failure(self.logger, label, result)
        return None
