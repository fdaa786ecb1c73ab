"""Run one Lua entry point in its own coroutine and turn its ending into an Outcome.

A coroutine per action, task or service lets a Python function that blocks
(sleep, socket, channel read) switch greenlets safely; the main Lua state is
never left mid-call.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import gevent

from . import contexts
from .runtime import LuaError, LuaRuntime


class Outcome(enum.Enum):
    OK = "ok"
    DONE = "done"
    ERROR = "error"


@dataclass(slots=True)
class Result:
    outcome: Outcome
    values: tuple[Any, ...] = ()
    error: str = ""


def run(runtime: LuaRuntime, function: Any, run_info: contexts.Run, *args: Any) -> Result:
    """Run *function(*args)* to its end; a top-level coroutine.yield lets others run."""
    with contexts.running(run_info):
        try:
            coroutine = runtime.prelude.run.coroutine(function, *args)
            result = coroutine.send(None)
            while coroutine:
                gevent.sleep(0)
                result = coroutine.send(None)
        except LuaError as exc:
            return Result(Outcome.ERROR, error=str(exc))
    return _result(result)


def call(runtime: LuaRuntime, function: Any, run_info: contexts.Run, *args: Any) -> Result:
    """Run a function that may not block (fetch, converter, init) without a coroutine."""
    with contexts.running(run_info):
        try:
            result = runtime.prelude.run(function, *args)
        except LuaError as exc:
            return Result(Outcome.ERROR, error=str(exc))
    return _result(result)


def _result(result: Any) -> Result:
    """Map the prelude's ("ok", values...) | ("done",) | ("error", traceback) to a Result."""
    if not isinstance(result, tuple):
        result = (result,)
    if result[0] == "ok":
        return Result(Outcome.OK, result[1:])
    if result[0] == "done":
        return Result(Outcome.DONE)
    return Result(Outcome.ERROR, error=_user_frames(str(result[1]) if len(result) > 1 else "unknown error"))


def _user_frames(traceback: str) -> str:
    """Drop the prelude's own frames (xpcall, luaproxy:N) from the end of a traceback."""
    lines = traceback.split("\n")
    while lines and ("in function 'xpcall'" in lines[-1] or lines[-1].lstrip().startswith("luaproxy:")):
        lines.pop()
    return "\n".join(lines)
