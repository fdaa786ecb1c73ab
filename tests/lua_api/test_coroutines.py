"""Pooled Lua coroutines: reused from run to run, never shared by two runs, dropped when they end badly."""

from __future__ import annotations

import gevent
import pytest

from luaproxy.lua_api import runner
from luaproxy.lua_api.contexts import Context, Run
from luaproxy.lua_api.engine import LuaEngine
from luaproxy.worker.samples import PatternLibrary, default_registry
from tests.lua_api.test_sandbox_and_core import Logs


@pytest.fixture
def engine() -> LuaEngine:
    return LuaEngine(Logs(), default_registry(), PatternLibrary())


def test_runs_reuse_one_coroutine_and_keep_their_results(engine):
    running = engine.runtime.lua.eval("function(n) return tostring(coroutine.running()), n * 2 end")
    first = runner.run(engine.runtime, running, Run(Context.ACTION, "a"), 1)
    second = runner.run(engine.runtime, running, Run(Context.ACTION, "a"), 21)
    assert first.values[1] == 2 and second.values[1] == 42
    assert first.values[0] == second.values[0]


def test_an_error_or_done_leaves_the_coroutine_usable(engine):
    failing = engine.runtime.lua.eval("function() error('boom') end")
    assert runner.run(engine.runtime, failing, Run(Context.ACTION, "a")).outcome is runner.Outcome.ERROR
    done = engine.runtime.lua.eval("function() core.done('bye') end")
    assert runner.run(engine.runtime, done, Run(Context.ACTION, "a")).values == ("bye",)
    ok = engine.runtime.lua.eval("function() return 'ok' end")
    assert runner.run(engine.runtime, ok, Run(Context.ACTION, "a")).values == ("ok",)


def test_a_script_yielding_values_is_not_taken_for_the_end_of_its_run(engine):
    fn = engine.runtime.lua.eval("function() coroutine.yield('ok'); coroutine.yield(true, nil); return 'end' end")
    result = runner.run(engine.runtime, fn, Run(Context.TASK, "t"))
    assert (result.outcome, result.values) == (runner.Outcome.OK, ("end",))


def test_concurrent_runs_never_share_a_coroutine(engine):
    fn = engine.runtime.lua.eval("function(n) local me = coroutine.running(); core.msleep(20); "
                                 "return me == coroutine.running() and n end")
    greenlets = [gevent.spawn(runner.run, engine.runtime, fn, Run(Context.ACTION, "a"), n) for n in range(20)]
    gevent.joinall(greenlets, timeout=10)
    assert sorted(g.value.values[0] for g in greenlets) == list(range(20))


def test_a_killed_run_does_not_give_its_coroutine_back(engine):
    sleeper = engine.runtime.lua.eval("function() core.msleep(5000) end")
    greenlet = gevent.spawn(runner.run, engine.runtime, sleeper, Run(Context.ACTION, "a"))
    gevent.sleep(0.05)
    greenlet.kill(timeout=5)
    running = engine.runtime.lua.eval("function() return coroutine.status(coroutine.running()) end")
    assert runner.run(engine.runtime, running, Run(Context.ACTION, "a")).values == ("running",)
    assert all(coroutine for coroutine in engine.runtime.coroutines.idle)
