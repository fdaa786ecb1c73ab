"""Lua tasks in a worker: each in its own greenlet and coroutine, started when the worker serves.

A task registered later, from an action or another task, starts at once.  An
error ends that task only, with its traceback logged.
"""

from __future__ import annotations

from typing import Any

import gevent

from . import runner
from .contexts import Context, Run
from .engine import LuaEngine

RECLAIM_PERIOD = 1.0


class TaskLauncher:
    def __init__(self, engine: LuaEngine) -> None:
        self.engine = engine
        self.greenlets: list[gevent.Greenlet] = []

    def start_all(self) -> None:
        """In the worker, once it serves: start what the body and init contexts registered."""
        registry = self.engine.registry
        registry.task_starter = self.start
        for function, args in registry.tasks:
            self.start(function, args)
        gevent.spawn(self._reclaim_memory)

    def _reclaim_memory(self) -> None:
        """Memory a finished Lua run left behind goes back to the system within a second."""
        while True:
            gevent.sleep(RECLAIM_PERIOD)
            self.engine.runtime.reclaim_if_grown()

    def start(self, function: Any, args: tuple[Any, ...]) -> None:
        self.greenlets.append(gevent.spawn(self._run, function, args))

    def _run(self, function: Any, args: tuple[Any, ...]) -> None:
        limits = self.engine.limits
        run = Run(Context.TASK, "task", limit=limits.task_timeout)
        result = runner.run(self.engine.runtime, function, run, *args, forced_yield=limits.forced_yield)
        if result.outcome in (runner.Outcome.ERROR, runner.Outcome.TIMEOUT):
            self.engine.logger.alert(f"Lua task: runtime error: {result.error}")
