"""txn:done() in a Lua action: the action's own TXN is marked by its run's outcome (no call into Python),
and the transaction ends as done whatever the script does with the unwinding."""

from __future__ import annotations

import pytest

from luaproxy.lua_api.actions import LuaAction
from luaproxy.lua_api.engine import LuaEngine
from luaproxy.worker.rules.verdict import Verdict
from luaproxy.worker.samples import PatternLibrary, default_registry
from tests.lua_api.test_sandbox_and_core import Logs


class State:
    """What a Lua action reads of its transaction (a TCP one: no HTTP message, no reply)."""

    def __init__(self) -> None:
        self.lua = None
        self.src = "192.0.2.1"
        self.response = None
        self.http_mode = False
        self.before_wait = None
        self.frontend = None
        self.done = False
        self.reply = None


@pytest.fixture
def engine() -> LuaEngine:
    return LuaEngine(Logs(), default_registry(), PatternLibrary())


def action(engine: LuaEngine, code: str) -> LuaAction:
    return LuaAction(engine, "t", engine.runtime.lua.eval(code), ())


def test_done_ends_the_transaction(engine):
    state = State()
    assert action(engine, "function(txn) txn:done() end")(state) is Verdict.DONE
    assert state.done


def test_done_caught_by_a_script_still_ends_the_transaction(engine):
    state = State()
    caught = action(engine, "function(txn) local ok = pcall(txn.done, txn); return ok and 1 or act.CONTINUE end")
    assert caught(state) is Verdict.DONE and state.done
    again = State()
    failing = action(engine, "function(txn) pcall(txn.done, txn); error('after done') end")
    assert failing(again) is Verdict.ERROR and again.done
    assert "after done" in engine.logger.lines[-1][1]


def test_a_later_run_on_the_same_txn_starts_without_the_mark(engine):
    state = State()
    action(engine, "function(txn) pcall(txn.done, txn) end")(state)
    state.done = False
    assert action(engine, "function(txn) return act.CONTINUE end")(state) is Verdict.CONTINUE
    assert not state.done


def test_done_of_another_transactions_txn_marks_that_one(engine):
    first, second = State(), State()
    action(engine, "function(txn) kept = txn end")(first)
    assert action(engine, "function(txn) pcall(kept.done, kept); return act.CONTINUE end")(second) is Verdict.CONTINUE
    assert first.done and not second.done


def test_src_is_the_runs_own_client_address(engine):
    """txn.sf:src() / txn.f:src() answer in Lua with the address handed with the run: its text as the fetch
    gives it, the address of this run (a set-src between runs moves it), and a TXN kept past its run asks
    Python for its own transaction's."""
    state, other = State(), State()
    state.src = "2001:DB8::0001"
    read = action(engine, "function(txn) seen = {txn.sf:src(), txn.f:src()}; kept = kept or txn end")
    lua_globals = engine.runtime.globals
    read(state)
    assert list(lua_globals.seen.values()) == ["2001:db8::1", "2001:db8::1"]
    state.src = "10.0.0.2"
    read(state)
    assert list(lua_globals.seen.values()) == ["10.0.0.2", "10.0.0.2"]
    action(engine, "function(txn) seen = {kept.sf:src(), txn.sf:src()} end")(other)
    assert list(lua_globals.seen.values()) == ["10.0.0.2", "192.0.2.1"]
    other.src = None
    action(engine, "function(txn) seen = {txn.sf:src(), txn.f:src() == nil} end")(other)
    assert list(lua_globals.seen.values()) == ["", True]
