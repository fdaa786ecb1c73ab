"""luaproxy_lua_calls_total / _errors_total: a successful action's run is counted in its Tally, a plain integer
added to the counter when the metrics are read, and reads the same as a failed run's, counted at once."""

from __future__ import annotations

from luaproxy.lua_api.engine import LuaEngine
from luaproxy.worker.samples import PatternLibrary, default_registry
from tests.lua_api.test_action_done import State, action
from tests.lua_api.test_sandbox_and_core import Logs


def values(engine: LuaEngine, name: str) -> dict[tuple[str, ...], object]:
    """A metric's values as a scrape reads them (MetricSet.snapshot)."""
    metric = next(m for m in engine.metrics.snapshot() if m["name"] == name)
    return {tuple(key): value for key, value in metric["values"]}


def test_successful_and_failed_runs_are_counted_at_each_snapshot():
    engine = LuaEngine(Logs(), default_registry(), PatternLibrary())
    fine = action(engine, "function(txn) end")
    failing = action(engine, "function(txn) error('no') end")
    for _ in range(3):
        fine(State())
    failing(State())
    assert values(engine, "luaproxy_lua_calls_total") == {("action", "t"): 4}
    assert values(engine, "luaproxy_lua_errors_total") == {("action", "t"): 1}
    fine(State())
    assert values(engine, "luaproxy_lua_calls_total") == {("action", "t"): 5}


def test_with_the_duration_histogram_every_run_is_observed():
    engine = LuaEngine(Logs(), default_registry(), PatternLibrary(), call_durations=True)
    fine = action(engine, "function(txn) end")
    fine(State())
    fine(State())
    assert values(engine, "luaproxy_lua_calls_total") == {("action", "t"): 2}
    assert values(engine, "luaproxy_lua_duration_seconds")[("action", "t")]["buckets"][-1] == 0
    assert sum(values(engine, "luaproxy_lua_duration_seconds")[("action", "t")]["buckets"]) == 2
