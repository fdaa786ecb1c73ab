"""The ``core`` class: logging, registration, scheduling.

Registration functions only work in the body context; the scheduling calls
block only their own greenlet in runtime contexts and the whole process in the
initialisation contexts, as the spec says.
"""

from __future__ import annotations

import time
from typing import Any

import gevent

from . import checks, contexts
from .cli import RegisteredCli
from .contexts import Context
from .errors import LuaApiError
from .filters import RegisteredFilter
from .registered import ACTION_KINDS, RegisteredService, Registry

LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
SLEEP_CONTEXTS = contexts.RUNTIME | contexts.INITIALISATION
BODY_ONLY = frozenset({Context.BODY})


class Core:
    """Python side of ``core``: holds the registry and the logger it writes to."""

    def __init__(self, registry: Registry, logger: Any) -> None:
        self.registry = registry
        self.logger = logger

    def functions(self) -> dict[str, Any]:
        return {
            "log": self.log, "Debug": self.debug, "Info": self.info, "Warning": self.warning,
            "Alert": self.alert, "register_action": self.register_action,
            "register_init": self.register_init, "register_task": self.register_task,
            "register_fetches": self.register_fetches, "register_converters": self.register_converters,
            "register_service": self.register_service, "msleep": self.msleep, "sleep": self.sleep,
            "yield": self.yield_, "set_nice": self.set_nice, "register_cli": self.register_cli,
            "register_filter": self.register_filter,
        }

    def log(self, level: Any, message: Any) -> None:
        level = checks.integer(level, "log", 1)
        if not 0 <= level <= 7:
            raise LuaApiError(f"bad argument #1 to 'log' (log level {level} out of range 0..7)")
        self.logger.log(level, checks.string(message, "log", 2))

    def debug(self, message: Any) -> None:
        self.logger.log(7, checks.string(message, "Debug", 1))

    def info(self, message: Any) -> None:
        self.logger.log(6, checks.string(message, "Info", 1))

    def warning(self, message: Any) -> None:
        self.logger.log(4, checks.string(message, "Warning", 1))

    def alert(self, message: Any) -> None:
        self.logger.log(1, checks.string(message, "Alert", 1))

    def register_action(self, name: Any, kinds: Any, function: Any, nb_args: Any = 0) -> None:
        contexts.require("core.register_action", BODY_ONLY)
        name = checks.string(name, "register_action", 1)
        if checks.lua_type(kinds) != "table":
            raise LuaApiError("bad argument #2 to 'register_action' (table of action kinds expected, "
                              f"e.g. {{\"tcp-req\"}}, got {checks.lua_type(kinds)})")
        wanted = tuple(checks.string(k, "register_action", 2) for k in kinds.values())
        for kind in wanted:
            if kind not in ACTION_KINDS:
                raise LuaApiError(f"register_action: unknown action kind '{kind}' "
                                  f"(expected {', '.join(ACTION_KINDS)})")
        checks.function(function, "register_action", 3)
        count = checks.integer(nb_args, "register_action", 4) if nb_args is not None else 0
        self.registry.add_action(name, function, wanted, count)

    def register_init(self, function: Any) -> None:
        contexts.require("core.register_init", BODY_ONLY)
        self.registry.inits.append(checks.function(function, "register_init", 1))

    def register_task(self, function: Any, *args: Any) -> None:
        self.registry.add_task(checks.function(function, "register_task", 1), args)

    def register_fetches(self, name: Any, function: Any) -> None:
        contexts.require("core.register_fetches", BODY_ONLY)
        name = checks.string(name, "register_fetches", 1)
        self.registry.fetches[name] = checks.function(function, "register_fetches", 2)

    def register_converters(self, name: Any, function: Any) -> None:
        contexts.require("core.register_converters", BODY_ONLY)
        name = checks.string(name, "register_converters", 1)
        self.registry.converters[name] = checks.function(function, "register_converters", 2)

    def register_service(self, name: Any, mode: Any, function: Any) -> None:
        contexts.require("core.register_service", BODY_ONLY)
        name = checks.string(name, "register_service", 1)
        mode = checks.string(mode, "register_service", 2)
        if mode not in ("tcp", "http"):
            raise LuaApiError(f"register_service: mode must be 'tcp' or 'http', got '{mode}'")
        function = checks.function(function, "register_service", 3)
        self.registry.services[name] = RegisteredService(name, mode, function)

    def register_cli(self, path: Any, usage: Any, function: Any) -> None:
        contexts.require("core.register_cli", BODY_ONLY)
        if checks.lua_type(path) != "table":
            raise LuaApiError("bad argument #1 to 'register_cli' "
                              f"(table of words expected, got {checks.lua_type(path)})")
        words = tuple(checks.string(w, "register_cli", 1) for w in path.values())
        if not words or len(words) > 5:
            raise LuaApiError("register_cli: the path must have 1 to 5 words")
        self.registry.cli.append(RegisteredCli(words, checks.string(usage, "register_cli", 2),
                                               checks.function(function, "register_cli", 3)))

    def register_filter(self, name: Any, cls: Any, function: Any) -> None:
        contexts.require("core.register_filter", BODY_ONLY)
        name = checks.string(name, "register_filter", 1)
        if checks.lua_type(cls) != "table":
            raise LuaApiError(f"bad argument #2 to 'register_filter' (table expected, got {checks.lua_type(cls)})")
        self.registry.filters[name] = RegisteredFilter(name, cls, checks.function(function, "register_filter", 3))

    def msleep(self, milliseconds: Any) -> None:
        self._sleep("core.msleep", checks.number(milliseconds, "msleep", 1) / 1000.0)

    def sleep(self, seconds: Any) -> None:
        self._sleep("core.sleep", checks.number(seconds, "sleep", 1))

    def _sleep(self, name: str, seconds: float) -> None:
        run = contexts.require(name, SLEEP_CONTEXTS)
        if run.context in contexts.INITIALISATION:
            time.sleep(max(seconds, 0.0))
        else:
            with run.blocking():
                gevent.sleep(max(seconds, 0.0))

    def yield_(self) -> None:
        run = contexts.current()
        if run.context in contexts.RUNTIME:
            with run.blocking():
                gevent.sleep(0)

    def set_nice(self, nice: Any) -> None:
        nice = checks.integer(nice, "set_nice", 1)
        if not -1024 <= nice <= 1024:
            raise LuaApiError(f"bad argument #1 to 'set_nice' (nice {nice} out of range -1024..1024)")
        run = contexts.current()
        if run.txn is not None:
            run.txn.nice = nice


def build(runtime: Any, core: Core) -> Any:
    """The Lua ``core`` table: wrapped functions plus the log-level constants."""
    table = runtime.table()
    for name, function in core.functions().items():
        table[name] = runtime.func(function)
    for level, name in enumerate(LOG_LEVELS):
        table[name] = level
    return table


def wake_time(milliseconds: Any) -> None:
    """act.wake_time(ms): an action that returns act.YIELD runs again after at most this long."""
    run = contexts.require("act.wake_time", frozenset({Context.ACTION}))
    run.wake = max(checks.integer(milliseconds, "wake_time", 1), 0) / 1000.0
