"""Run one Lua entry point and turn its ending into an Outcome.

Actions, tasks and services run in their own coroutine, so a Python function
that blocks (sleep, socket, channel read) switches greenlets safely; the main
Lua state is never left mid-call.  Fetches, converters, body and init may not
block and run on the main thread.  A count hook enforces each run's time
budget (tune.lua.*-timeout, Lua time only) and, in coroutines, yields every
tune.lua.forced-yield instructions so a long loop lets others run.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gevent

from . import contexts
from .contexts import CURRENT
from .coroutines import FINISHED, KEPT
from .errors import LuaApiError
from .runtime import LuaError, LuaRuntime

if TYPE_CHECKING:
    from .metrics import Tally

DEFAULT_FORCED_YIELD = 10000
NICE_DELAY_PER_STEP = 0.001 / 1024


class Outcome(enum.Enum):
    OK = "ok"
    DONE = "done"
    ERROR = "error"
    TIMEOUT = "timeout"


OK, DONE, ERROR, TIMEOUT = Outcome.OK, Outcome.DONE, Outcome.ERROR, Outcome.TIMEOUT
"""The outcomes by module name: an Enum class's attribute goes through EnumType.__getattr__ (ten times a
global's cost), and every run's path reads two or three."""


@dataclass(slots=True)
class Result:
    outcome: Outcome
    values: tuple[Any, ...] = ()
    error: str = ""


_OK, _DONE = 0, 1
"""The prelude's outcome codes (prelude.lua's OK and DONE_CODE; anything else is an error)."""
RESULT_DONE = Result(Outcome.DONE)
RESULT_OK = Result(Outcome.OK)
"""The results of every run that ended in txn:done() or returned nothing: shared, never changed."""

TIMEOUT_MESSAGE = "execution timeout"
MEMORY_MESSAGE = "not enough memory"
_PRELUDE_FRAMES = ("luaproxy:", "(...tail calls...)")

observer: Callable[[contexts.Run, Result], None] | None = None
"""Told of every finished run (the engine's Lua call metrics), but a successful one given a Tally (counted
there); one per process, like the runtime.  A run's start is its ``started``."""


def log_failure(logger: Any, label: str, result: Result) -> None:
    """A failed run (ERROR or TIMEOUT) in the log, one wording for every kind of run:
    ``<label>: execution timeout|runtime error: <error>``."""
    what = "execution timeout" if result.outcome is Outcome.TIMEOUT else "runtime error"
    logger.alert(f"{label}: {what}: {result.error}")


def _finished(runtime: LuaRuntime, run_info: contexts.Run, result: Result) -> Result:
    if result.outcome is Outcome.ERROR and MEMORY_MESSAGE in result.error:
        runtime.reclaim()
    if observer is not None:
        observer(run_info, result)
    return result


def _check_budget(event: str = "") -> None:
    if contexts.current().exceeded():
        raise LuaApiError(TIMEOUT_MESSAGE)


def _check_and_yield(event: str = "") -> None:
    """Every forced-yield instructions: stop an over-budget run, else let others run first."""
    run = contexts.current()
    if run.exceeded():
        raise LuaApiError(TIMEOUT_MESSAGE)
    nice = run.txn.nice if run.txn is not None else 0
    with run.blocking():
        gevent.sleep(max(nice, 0) * NICE_DELAY_PER_STEP)


def install_hooks(runtime: LuaRuntime) -> None:
    """Give the prelude the budget hooks once (passing them on every run would wrap them anew)."""
    runtime.prelude.set_hooks(_check_and_yield, _check_budget)


def run(runtime: LuaRuntime, function: Any, run_info: contexts.Run, *args: Any,
        forced_yield: int = DEFAULT_FORCED_YIELD) -> Result:
    """Run *function(*args)* in a coroutine; a top-level coroutine.yield lets others run."""
    return run_job(runtime, run_info, (runtime.launch, forced_yield, function, *args))[0]


def _resume(runtime: LuaRuntime, run_info: contexts.Run, job: tuple[Any, ...]) -> tuple[Any, ...] | Result:
    """Run a launcher's job in a pooled coroutine to its end: (FINISHED, made, code, ...), or the Result
    of a Lua error outside the run's xpcall."""
    pool = runtime.coroutines
    idle = pool.idle
    coroutine = idle.pop() if idle else pool.new()
    token = CURRENT.set(run_info)  # contexts.running() inlined: this is every action's and service's path
    try:
        result = coroutine.send(job)
        while type(result) is not tuple or result[0] is not FINISHED:
            with run_info.blocking():
                gevent.sleep(0)
            result = coroutine.send(None)
    except LuaError as exc:  # outside the run's xpcall (no memory left): the coroutine is dead
        return _finished(runtime, run_info, Result(Outcome.ERROR, error=str(exc)))
    finally:
        CURRENT.reset(token)
    if len(idle) < KEPT:
        idle.append(coroutine)
    return result


def run_job(runtime: LuaRuntime, run_info: contexts.Run, job: tuple[Any, ...],
            tally: Tally | None = None) -> tuple[Result, Any]:
    """Run a launcher's job, (launcher, forced yield, function, arguments...), in a pooled coroutine.

    Returns the result and what the launcher made for Python to keep (an action launcher's new TXN object).
    A successful run is counted in *tally* when given (LuaCallMetrics.tally), else told to the observer."""
    result = _resume(runtime, run_info, job)
    if type(result) is Result:
        return result, None
    code = result[2]  # _result's two common cases inlined: this is every action's and service's path
    if code == _DONE:
        done = RESULT_DONE
    elif code == _OK:
        done = Result(Outcome.OK, result[3:]) if len(result) > 3 else RESULT_OK
    else:
        return _finished(runtime, run_info, _result(result[2:])), result[1]
    if tally is not None:
        tally.count += 1
    elif observer is not None:
        observer(run_info, done)
    return done, result[1]


def run_applet(runtime: LuaRuntime, run_info: contexts.Run, job: tuple[Any, ...],
               tally: Tally | None = None) -> tuple[Result, tuple[Any, ...]]:
    """Run a service (its prelude.service_launcher's job): its result (no values) and the output its applet still
    held in Lua, (status, reason, body, header fields...), empty when it held none.  *tally* as run_job's."""
    result = _resume(runtime, run_info, job)
    if type(result) is Result:
        return result, ()
    code = result[2]
    if code == _OK:
        done = RESULT_OK
    elif code == _DONE:
        done = RESULT_DONE
    else:
        done = _result(result[2:4])
        return _finished(runtime, run_info, done), result[4:]
    if tally is not None:
        tally.count += 1
    elif observer is not None:
        observer(run_info, done)
    return done, result[4:]


def call(runtime: LuaRuntime, function: Any, run_info: contexts.Run, *args: Any,
         check_every: int = DEFAULT_FORCED_YIELD) -> Result:
    """Run a function that may not block (fetch, converter, body, init) on the main thread."""
    with contexts.running(run_info):
        try:
            result = runtime.call_on_main(function, check_every, *args)
        except LuaError as exc:
            return _finished(runtime, run_info, Result(Outcome.ERROR, error=str(exc)))
    return _finished(runtime, run_info, _result(result))


def _result(result: Any) -> Result:
    """Map the prelude's (OK, values...) | (DONE,) | (ERROR, traceback) to a Result."""
    if not isinstance(result, tuple):
        result = (result,)
    if result[0] == _OK:
        return Result(Outcome.OK, result[1:])
    if result[0] == _DONE:
        return RESULT_DONE
    error = _user_frames(str(result[1]) if len(result) > 1 else "unknown error")
    if error.split("\n", 1)[0].endswith(TIMEOUT_MESSAGE):
        return Result(Outcome.TIMEOUT, error=error)
    return Result(Outcome.ERROR, error=error)


def _user_frames(traceback: str) -> str:
    """Drop the prelude's own frames (xpcall, luaproxy:N, a pooled coroutine's tail calls) from the end
    of a traceback."""
    lines = traceback.split("\n")
    while lines and ("in function 'xpcall'" in lines[-1] or lines[-1].lstrip().startswith(_PRELUDE_FRAMES)):
        lines.pop()
    return "\n".join(lines)
