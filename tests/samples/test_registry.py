"""The registry seen from the Lua layer and the config loader: names, calls, scripted entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from luaproxy.worker.samples import (
    ParseEnv,
    PatternLibrary,
    Sample,
    SampleError,
    SampleRegistry,
    SampleType,
    default_registry,
    lua_name,
    parse_expr,
    to_text,
)
from tests.samples.streamkit import Stream, http_stream, response

T = SampleType


def test_lua_names_are_mangled_and_canonical_names_win(registry: SampleRegistry) -> None:
    assert lua_name("req.hdr") == "req_hdr"
    assert lua_name("set-var") == "set_var"
    assert lua_name("base32+src") == "base32_src"
    fetches = registry.lua_fetches()
    assert fetches["req_hdr"].name == "req.hdr"
    assert fetches["req_len"].name == "req.len"
    assert fetches["req_ver"].name == "req.ver"
    assert registry.lua_converters()["set_var"].name == "set-var"


def test_call_fetch_and_converter_with_runtime_args(registry: SampleRegistry) -> None:
    ctx = http_stream()
    assert to_text(registry.call_fetch("req.hdr", ctx, ["x-a", 1])) == "a1"
    assert registry.call_fetch("req.hdr", ctx, ["x-a", 9]) is None
    ctx.response = response(200, [("X-A", "r")])
    assert to_text(registry.call_fetch("hdr", ctx, ["x-a"], res=True)) == "r"
    assert registry.call_converter("lower", ctx, Sample(T.STR, "AB")) == Sample(T.STR, "ab")
    assert registry.call_converter("add", ctx, Sample(T.STR, "40"), [2.0]) == Sample(T.SINT, 42)
    assert registry.call_converter("bool", ctx, Sample(T.SINT, 1), []) == Sample(T.BOOL, True)
    assert to_text(registry.call_converter("iif", ctx, Sample(T.BOOL, False), ["y", "n"])) == "n"
    assert registry.call_converter("ipmask", ctx, Sample(T.STR, "nope"), [True]) is None
    with pytest.raises(SampleError, match="missing arguments"):
        registry.call_converter("field", ctx, Sample(T.STR, "a"), [1])
    with pytest.raises(SampleError, match="unknown fetch method 'nope'"):
        registry.call_fetch("nope", ctx)


def test_call_map_converter_with_a_library(registry: SampleRegistry, tmp_path: Path) -> None:
    (tmp_path / "m.map").write_text("k v\n")
    env = ParseEnv(PatternLibrary(str(tmp_path)))
    assert to_text(registry.call_converter("map", Stream(), Sample(T.STR, "k"), ["m.map"], env=env)) == "v"


def test_scripted_fetches_and_converters(tmp_path: Path) -> None:
    registry = default_registry()
    registry.add_text_fetch("lua.hello", lambda ctx, args: "hello " + ",".join(args))
    registry.add_text_fetch("lua.none", lambda ctx, args: None)
    registry.add_text_fetch("lua.num", lambda ctx, args: 41)
    registry.add_text_converter("lua.twice", lambda ctx, smp, args: to_text(smp) * 2, "Doubles.")
    ctx = Stream()
    assert to_text(parse_expr("lua.hello(a,b)", registry).evaluate(ctx)) == "hello a,b"
    assert to_text(parse_expr("lua.hello", registry).evaluate(ctx)) == "hello "
    assert parse_expr("lua.none", registry).evaluate(ctx) is None
    assert to_text(parse_expr("lua.num,add(1)", registry).evaluate(ctx)) == "42"
    assert to_text(parse_expr("src,lua.twice", registry).evaluate(ctx)) == "192.168.1.10192.168.1.10"
    assert registry.lua_fetches()["lua_hello"].name == "lua.hello"
    assert registry.converter_def("lua.twice").doc == "Doubles."
    with pytest.raises(SampleError, match="already registered"):
        registry.add_text_fetch("lua.hello", lambda ctx, args: None)
    with pytest.raises(SampleError, match="already registered"):
        registry.add_text_converter("lower", lambda ctx, smp, args: None)


def test_registry_instances_are_independent() -> None:
    one, two = default_registry(), default_registry()
    one.add_text_fetch("lua.only_here", lambda ctx, args: "x")
    assert one.get_fetch("lua.only_here") is not None
    assert two.get_fetch("lua.only_here") is None
