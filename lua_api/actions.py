"""Lua actions as plain callables for the worker's rule lists.

``tcp-request content lua.NAME args`` and the spec's ``tcp-request content lua
FN`` both become a LuaAction; the worker calls it with its transaction and gets
a Verdict back, never an exception: a Lua error is logged with the function
name and traceback and ends only that transaction.
"""

from __future__ import annotations

import time
from typing import Any

import gevent

from luaproxy.worker.rules.verdict import ACCEPT, CONTINUE, DONE, ERROR, REJECT, Verdict
from luaproxy.worker.txn import handle_of

from . import runner
from .contexts import ACTION, Run
from .engine import LuaEngine
from .samples import address_text

_CODE_VERDICTS = {1: ACCEPT, 3: ERROR, 4: DONE, 5: REJECT,
                  6: REJECT, 7: ERROR}


YIELD_CODE = 2
YIELD_PAUSE = 0.01
"""How long an action that returned act.YIELD without act:wake_time() waits before it runs again."""


def _client_timeout(txn: Any) -> float:
    timeout = txn.frontend.timeout("client") if txn.frontend is not None else None
    return timeout if timeout else 30.0


class LuaAction:
    __slots__ = ("_launch", "args", "engine", "function", "label", "tally")

    def __init__(self, engine: LuaEngine, label: str, function: Any, args: tuple[str, ...]) -> None:
        self.engine = engine
        self.label = label
        self.function = function
        self.args = args
        self._launch: Any = None
        self.tally = engine.call_metrics.tally(ACTION, label)

    def __call__(self, txn: Any) -> Verdict:
        """Run the action; one that returns act.YIELD runs again after its wake_time (haproxy 2.6's
        act.YIELD), until it returns something else or the client timeout has passed."""
        deadline = 0.0
        while True:
            run = Run(ACTION, self.label, txn, self.engine.limits.session_timeout, txn.before_wait)
            verdict = self._run_once(txn, run)
            if verdict is not None:
                return verdict
            if not deadline:  # the client timeout counts from the first run (known only once one yielded)
                deadline = run.started + _client_timeout(txn)
            if time.monotonic() >= deadline:
                return CONTINUE
            with run.blocking():
                gevent.sleep(run.wake if run.wake is not None else YIELD_PAUSE)

    def _run_once(self, txn: Any, run: Run) -> Verdict | None:
        """The action's verdict, or None when it asked to run again (act.YIELD)."""
        engine = self.engine
        launch = self._launch
        if launch is None:  # made on first use, once the configuration has set the limits
            launch = self._launch = engine.runtime.prelude.action_launcher(
                engine.limits.forced_yield, self.function, engine.txn_metatable, *self.args)
        src = address_text(txn.src)
        if txn.lua is not None:
            result = runner.run_job(engine.runtime, run, (launch, txn.lua, src), self.tally)[0]
        else:  # the TXN object is made in the coroutine, and kept for the transaction's later runs
            result, made = runner.run_job(engine.runtime, run, (launch, None, src, handle_of(txn),
                                                                        txn.http_mode), self.tally)
            if made is not None:
                txn.lua = made
        if result.outcome is runner.TIMEOUT or result.outcome is runner.ERROR:
            runner.log_failure(self.engine.logger, f"Lua function '{self.label}'", result)
            return ERROR
        if result.outcome is runner.DONE:  # the action's own txn:done() is told by its outcome alone
            txn.done = True
            return DONE
        if txn.done:
            return DONE
        code = result.values[0] if result.values else None
        if code == YIELD_CODE:
            return None
        return _CODE_VERDICTS.get(code, CONTINUE) if isinstance(code, int) else CONTINUE

    def __repr__(self) -> str:
        return f"<Lua action {self.label}>"
