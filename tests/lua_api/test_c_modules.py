"""Lua C modules built for Debian's Lua 5.4 load into luaproxy's Lua (lupa's symbols made global)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from luaproxy.lua_api.runtime import LuaRuntime

pytestmark = pytest.mark.skipif(not Path("/usr/lib/x86_64-linux-gnu/lua/5.4/cjson.so").exists(),
                                reason="Debian's lua-cjson is not installed")


def test_default_paths_are_debians():
    runtime = LuaRuntime()
    if "LUA_CPATH" not in os.environ and "LUA_CPATH_5_4" not in os.environ:
        assert "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so" in runtime.lua.eval("package.cpath")
    if "LUA_PATH" not in os.environ and "LUA_PATH_5_4" not in os.environ:
        assert "/usr/share/lua/5.4/?.lua" in runtime.lua.eval("package.path")


def test_cjson_round_trip():
    runtime = LuaRuntime()
    assert runtime.lua.execute("""
        local cjson = require "cjson"
        local t = cjson.decode('{"a":[1,2,3],"b":"x"}')
        return cjson.encode({n = #t.a, b = t.b})
    """) in ('{"n":3,"b":"x"}', '{"b":"x","n":3}')


@pytest.mark.skipif(not Path("/usr/lib/x86_64-linux-gnu/lua/5.4/_openssl.so").exists(),
                    reason="Debian's lua-luaossl is not installed")
def test_luaossl_digest():
    runtime = LuaRuntime()
    assert runtime.lua.execute("""
        local digest = require "openssl.digest"
        local raw = digest.new("sha256"):final("abc")
        return (raw:gsub(".", function(c) return string.format("%02x", c:byte()) end))
    """) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_the_sandbox_stays_with_c_modules_loaded():
    runtime = LuaRuntime()
    runtime.lua.execute('require "cjson"')
    runtime.globals.obj = object()
    assert runtime.lua.eval("python") is None
    with pytest.raises(Exception, match="not reachable"):
        runtime.lua.execute("return obj.__class__")


@pytest.mark.skipif(not Path("/usr/lib/x86_64-linux-gnu/lua/5.4/mime/core.so").exists(),
                    reason="Debian's lua-socket is not installed")
def test_luasocket_mime():
    runtime = LuaRuntime()
    assert runtime.lua.execute('return (require("mime").b64("hello"))') == "aGVsbG8="
