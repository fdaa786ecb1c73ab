"""One process's Lua engine: the runtime, the API classes, the registry.

The master builds it, runs the body and init contexts, then forks: each
worker inherits it and runs actions and tasks on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import channel, core, runner, socket, txn
from .checks import lua_type
from .classes import LuaClass
from .contexts import Context, Run
from .errors import LuaApiError
from .registered import Registry
from .runtime import LuaRuntime

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
    def __init__(self, logger: Any, max_memory: int | None = None, limits: LuaLimits | None = None) -> None:
        self.logger = logger
        self.limits = limits or LuaLimits()
        self.runtime = LuaRuntime(max_memory=max_memory)
        self.registry = Registry()
        self.core = core.Core(self.registry, logger)
        lua_globals = self.runtime.globals
        lua_globals.core = core.build(self.runtime, self.core)
        lua_globals.act = self.runtime.table_from(ACTION_CODES)
        self.classes = {
            "TXN": LuaClass(self.runtime, "TXN", txn.FUNCTIONS),
            "Channel": LuaClass(self.runtime, "Channel", channel.FUNCTIONS, channel.ALIASES),
            "Fetches": LuaClass(self.runtime, "Fetches", {}),
            "StringFetches": LuaClass(self.runtime, "Fetches", {}),
            "Converters": LuaClass(self.runtime, "Converters", {}),
            "StringConverters": LuaClass(self.runtime, "Converters", {}),
            "HTTP": LuaClass(self.runtime, "HTTP", {}),
            "Socket": LuaClass(self.runtime, "Socket", socket.FUNCTIONS),
        }
        lua_globals.core.tcp = self.runtime.func(self._tcp)
        txn_class = self.classes["TXN"]
        done = self.runtime.prelude.done_method(txn_class.metatable, txn.mark_done)
        txn_class.add_lua("done", done)
        txn_class.add_lua("close", done)
        self._metatables = self.runtime.table_from({n: c.metatable for n, c in self.classes.items()})

    def _tcp(self) -> Any:
        """core.tcp(): a new Socket object."""
        return self.classes["Socket"].new(socket.tcp())

    def load_file(self, path: str, name: str | None = None) -> None:
        """Run a file's body context; a syntax or runtime error raises LuaApiError with file:line."""
        chunk = self.runtime.load_file(path, name)
        result = runner.call(self.runtime, chunk, Run(Context.BODY, path))
        if result.outcome is runner.Outcome.ERROR:
            raise LuaApiError(result.error)

    def run_inits(self) -> None:
        for function in self.registry.inits:
            result = runner.call(self.runtime, function, Run(Context.INIT, "init"))
            if result.outcome is runner.Outcome.ERROR:
                raise LuaApiError(result.error)

    def global_function(self, name: str) -> Any | None:
        value = self.runtime.globals[name]
        return value if lua_type(value) == "function" else None

    def txn_object(self, state: Any) -> Any:
        """The TXN Lua object of a transaction, built once and cached on it."""
        if state.lua is None:
            state.lua = self.runtime.prelude.new_txn(self._metatables, state, state.req, state.res,
                                                      state.http)
        return state.lua
