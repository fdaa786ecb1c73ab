"""The six execution contexts of the spec (plus services) and what each may do.

The current context is a ContextVar: each greenlet has its own, so a
transaction sleeping in one greenlet never sees another's context.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from .errors import LuaApiError


class Context(enum.Enum):
    __hash__ = object.__hash__
    """Members are singletons: identity hashing spares the Python-level Enum.__hash__ on every set or dict lookup."""

    BODY = "body"
    INIT = "init"
    TASK = "task"
    ACTION = "action"
    FETCH = "sample-fetch"
    CONVERTER = "converter"
    SERVICE = "service"


ACTION, SERVICE = Context.ACTION, Context.SERVICE
"""The contexts every action and service run is made with, by module name (as runner.OK and its kin)."""
RUNTIME = frozenset({Context.TASK, Context.ACTION, Context.SERVICE})
INITIALISATION = frozenset({Context.BODY, Context.INIT})


class Run:
    """One running Lua entry point: its context, the transaction it serves and its time budget, Lua
    running time: wall time minus the time it spent blocked or yielded.

    One object (a plain slotted class) is built for every Lua run: the budget is part of it rather
    than a second object (a frozen dataclass would cost a setattr call per field)."""

    __slots__ = ("blocked", "context", "function", "limit", "on_wait", "started", "txn", "wake")

    def __init__(self, context: Context, function: str = "", txn: Any = None, limit: float = 0.0,
                 on_wait: Callable[[], None] | None = None) -> None:
        self.context = context
        self.function = function
        self.txn = txn
        self.limit = limit
        self.started = time.monotonic()
        self.blocked = 0.0
        self.wake: float | None = None
        """act.wake_time(): how long an action that returned act.YIELD sleeps before it runs again."""
        self.on_wait = on_wait
        """Called as each wait starts: a service sends what it buffered, as an HAProxy applet does when it yields."""

    def used(self) -> float:
        return time.monotonic() - self.started - self.blocked

    def exceeded(self) -> bool:
        return self.limit > 0 and self.used() > self.limit

    def blocking(self) -> Waiting:
        """Around a call that waits (sleep, I/O, yield): its time is not Lua time."""
        return Waiting(self)


class Waiting:
    """The context manager of Run.blocking (a class: it runs around every blocking Lua call)."""

    __slots__ = ("run", "start")

    def __init__(self, run: Run) -> None:
        self.run = run
        self.start = 0.0

    def __enter__(self) -> None:
        self.start = time.monotonic()
        if self.run.on_wait is not None:
            self.run.on_wait()

    def __exit__(self, *exc_info: object) -> None:
        self.run.blocked += time.monotonic() - self.start


BODY_RUN = Run(Context.BODY)
CURRENT: ContextVar[Run | None] = ContextVar("luaproxy_lua_run", default=None)


def current() -> Run:
    """The run of this greenlet; outside any run, Lua is loading files (the body context)."""
    return CURRENT.get() or BODY_RUN


def running(run: Run) -> Running:
    """Make *run* this greenlet's current run for a ``with`` block."""
    return Running(run)


class Running:
    """The context manager of ``running`` (a class: it wraps every Lua run)."""

    __slots__ = ("run", "token")
    token: Token[Run | None]

    def __init__(self, run: Run) -> None:
        self.run = run

    def __enter__(self) -> Run:
        self.token = CURRENT.set(self.run)
        return self.run

    def __exit__(self, *exc_info: object) -> None:
        CURRENT.reset(self.token)


def blocking(function: str) -> Waiting:
    """Check that the current context may block, and keep the wait out of its Lua time."""
    return require(function, RUNTIME).blocking()


def require(function: str, allowed: frozenset[Context] | set[Context]) -> Run:
    """The current run, or a Lua error naming the function and where it may be called."""
    run = current()
    if run.context not in allowed:
        where = ", ".join(sorted(c.value for c in allowed))
        raise LuaApiError(f"{function}: not available in the {run.context.value} context "
                          f"(allowed in: {where})")
    return run
