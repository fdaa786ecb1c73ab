"""Lua coroutines reused from run to run, as HAProxy keeps a Lua thread per stream rather than per call.

Making a coroutine (a Lua thread and lupa's Python wrapper of it) cost more
than the rest of a short action.  A pooled coroutine runs the prelude's
``pooled`` body: it yields ``FINISHED`` after each run and waits for the next.
One that ended badly (a Lua error outside the run's xpcall, or abandoned while
suspended, e.g. its greenlet was killed) is simply not given back.
"""

from __future__ import annotations

from typing import Any

FINISHED = object()
"""What a pooled coroutine yields first when a run ended (a script's own yield never gives it)."""

KEPT = 64
"""Idle coroutines kept: beyond the runs that wait at once, a coroutine is dropped when it finishes.
An idle one still holds its last run's outcome (for an action, the TXN object it made) until it
is reused: at most this many transactions outlive their run that way."""


class CoroutinePool:
    """The idle pooled coroutines of one Lua runtime (a LIFO: the warmest is reused first).

    The runner pops ``idle`` and appends to it itself (two method calls fewer on every run);
    ``new`` makes one when none is idle."""

    __slots__ = ("_body", "idle")

    def __init__(self, body: Any) -> None:
        self._body = body
        self.idle: list[Any] = []

    def new(self) -> Any:
        coroutine = self._body.coroutine(FINISHED)
        coroutine.send(None)
        return coroutine
