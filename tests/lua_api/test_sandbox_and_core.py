"""The Lua engine in-process: sandbox, core functions, contexts, errors as Lua strings."""

from __future__ import annotations

import pytest

from luaproxy.lua_api import contexts, runner
from luaproxy.lua_api import engine as engine_module
from luaproxy.lua_api.contexts import Context, Run
from luaproxy.lua_api.engine import LuaEngine
from luaproxy.lua_api.errors import LuaApiError
from luaproxy.worker.samples import PatternLibrary, Sample, SampleType, default_registry


class Logs:
    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def log(self, level: int, message: str) -> None:
        self.lines.append((level, message))

    def alert(self, message: str) -> None:
        self.lines.append((1, message))


@pytest.fixture
def engine() -> LuaEngine:
    return LuaEngine(Logs(), default_registry(), PatternLibrary())


def run_body(engine: LuaEngine, tmp_path, code: str) -> None:
    path = tmp_path / "body.lua"
    path.write_text(code)
    engine.load_file(str(path), "body.lua")


def test_no_python_escape_hatches(engine):
    lua = engine.runtime.lua
    assert lua.eval("python") is None
    assert lua.eval("type(core.log)") == "function"
    with pytest.raises(Exception, match=r"not reachable|attempt to"):
        lua.execute("return core.log.__globals__")


def test_python_objects_expose_no_attributes(engine):
    engine.runtime.globals.obj = object()
    with pytest.raises(Exception, match="not reachable"):
        engine.runtime.lua.execute("return obj.__class__")


def test_log_levels_and_helpers(engine, tmp_path):
    run_body(engine, tmp_path, """
        core.log(core.err, "e")
        core.Debug("d"); core.Info("i"); core.Warning("w"); core.Alert("a")
        assert(core.emerg == 0 and core.alert == 1 and core.crit == 2 and core.err == 3)
        assert(core.warning == 4 and core.notice == 5 and core.info == 6 and core.debug == 7)
    """)
    assert engine.logger.lines == [(3, "e"), (7, "d"), (6, "i"), (4, "w"), (1, "a")]


def test_bad_arguments_are_lua_errors_at_the_callers_line(engine, tmp_path):
    with pytest.raises(LuaApiError, match=r"body.lua:2: bad argument #1 to 'log' \(log level 9"):
        run_body(engine, tmp_path, "local x = 1\ncore.log(9, 'x')\n")
    with pytest.raises(LuaApiError, match=r"body.lua:1: bad argument #2 to 'log' \(string expected, got table\)"):
        run_body(engine, tmp_path, "core.log(1, {})\n")
    with pytest.raises(LuaApiError, match=r"body.lua:2: bad argument #1 to 'add' \(Concat expected, got string\); "
                                          r"call it with ':'"):
        run_body(engine, tmp_path, "local c = core.concat()\nc.add('x')\n")


def test_errors_are_catchable_strings(engine, tmp_path):
    run_body(engine, tmp_path, """
        local ok, err = pcall(core.set_nice, 5000)
        assert(not ok and type(err) == "string" and err:find("out of range"), err)
        result = err
    """)
    assert "set_nice" in engine.runtime.globals.result


def test_registrations(engine, tmp_path):
    run_body(engine, tmp_path, """
        core.register_action("a", {"tcp-req", "http-req"}, function(txn) end, 2)
        core.register_fetches("f", function(txn) return "x" end)
        core.register_converters("c", function(s) return s end)
        core.register_service("s", "http", function(applet) end)
        core.register_init(function() end)
        core.register_task(function(a) end, "arg")
    """)
    reg = engine.registry
    assert reg.actions["a"].kinds == ("tcp-req", "http-req") and reg.actions["a"].nb_args == 2
    assert set(reg.fetches) == {"f"} and set(reg.converters) == {"c"} and reg.services["s"].mode == "http"
    assert len(reg.inits) == 1 and reg.tasks[0][1] == ("arg",)


def test_one_action_name_per_kind_keeps_both(engine, tmp_path):
    run_body(engine, tmp_path, """
        core.register_action("both", {"http-req"}, function(txn) return 1 end)
        core.register_action("both", {"http-res"}, function(txn) return 2 end, 1)
    """)
    action = engine.registry.actions["both"]
    assert action.kinds == ("http-req", "http-res")
    assert action.for_kind("http-req")[0]() == 1 and action.for_kind("http-res")[0]() == 2
    assert action.for_kind("http-res")[1] == 1 and action.for_kind("tcp-req") is None


@pytest.mark.parametrize(("code", "message"), [
    ('core.register_action("a", {"tcp-request"}, function() end)', "unknown action kind 'tcp-request'"),
    ('core.register_action("a", "tcp-req", function() end)', "table of action kinds expected"),
    ('core.register_action("a", {"tcp-req"}, 42)', "function expected, got number"),
    ('core.register_service("s", "udp", function() end)', "mode must be 'tcp' or 'http'"),
])
def test_registration_mistakes(engine, tmp_path, code, message):
    with pytest.raises(LuaApiError, match=message):
        run_body(engine, tmp_path, code)


def test_context_rules_for_registration_and_sleep(engine):
    fn = engine.runtime.lua.eval('function() core.register_fetches("x", function() end) end')
    result = runner.call(engine.runtime, fn, Run(Context.ACTION, "t"))
    assert result.outcome is runner.Outcome.ERROR
    assert "not available in the action context (allowed in: body)" in result.error
    sleeper = engine.runtime.lua.eval("function() core.msleep(1) end")
    result = runner.call(engine.runtime, sleeper, Run(Context.FETCH, "f"))
    assert "core.msleep: not available in the sample-fetch context" in result.error
    assert runner.call(engine.runtime, sleeper, Run(Context.INIT, "i")).outcome is runner.Outcome.OK


def test_context_is_per_greenlet(engine):
    import gevent

    seen = []

    def in_context(context: Context) -> None:
        with contexts.running(Run(context, "x")):
            gevent.sleep(0.01)
            seen.append(contexts.current().context)

    gevent.joinall([gevent.spawn(in_context, Context.ACTION), gevent.spawn(in_context, Context.TASK)])
    assert sorted(c.value for c in seen) == ["action", "task"]
    assert contexts.current().context is Context.BODY


def test_coroutine_runner_reports_traceback(engine):
    fn = engine.runtime.lua.eval("function(n) local t = nil; return t[n] end")
    result = runner.run(engine.runtime, fn, Run(Context.ACTION, "x"), 1)
    assert result.outcome is runner.Outcome.ERROR
    assert "attempt to index a nil value" in result.error and "stack traceback:" in result.error
    assert "xpcall" not in result.error


def test_top_level_coroutine_yield_lets_others_run(engine):
    fn = engine.runtime.lua.eval("function() coroutine.yield(); coroutine.yield(); return 'end' end")
    result = runner.run(engine.runtime, fn, Run(Context.TASK, "x"))
    assert (result.outcome, result.values) == (runner.Outcome.OK, ("end",))


def test_set_var_string_samples_are_shared_and_bounded():
    """A Lua string is stored as a binary sample; the same string again gets the same (never changed) sample,
    and the strings remembered stay under STRING_SAMPLES_KEPT, none longer than STRING_SAMPLE_KEPT_LENGTH."""
    first = engine_module.string_sample("127.0.0.1")
    assert first == Sample(SampleType.BIN, b"127.0.0.1")
    assert engine_module.string_sample("127.0.0.1") is first
    assert engine_module.string_sample("\xe9").value == b"\xe9"
    for n in range(engine_module.STRING_SAMPLES_KEPT + 10):
        engine_module.string_sample(f"value {n}")
    assert len(engine_module._string_samples) <= engine_module.STRING_SAMPLES_KEPT
    long = "x" * (engine_module.STRING_SAMPLE_KEPT_LENGTH + 1)
    assert engine_module.string_sample(long).value == long.encode() and long not in engine_module._string_samples
