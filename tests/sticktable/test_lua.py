"""The Lua StickTable class (info, lookup, dump) over a real shared table.

``LuaEngine.stick_table_object`` is what the Proxy class's ``stktable``
field returns (``core.backends[NAME].stktable``).
"""

from __future__ import annotations

import logging
import socket

import pytest
from lupa.lua54 import LuaError

from luaproxy.lua_api.engine import LuaEngine
from luaproxy.worker.samples import PatternLibrary, default_registry
from luaproxy.worker.sticktable import SharedTable, parse_table_args


@pytest.fixture
def engine() -> LuaEngine:
    table = SharedTable(parse_table_args("fe", ("type", "ip", "size", "10", "expire", "10s", "store",
                                                "gpc0,conn_rate(5s)")))
    for address, gpc0 in (("10.0.0.1", 3), ("10.0.0.2", 0)):
        idx = table.track(socket.inet_aton(address), ("conn",))
        table.set_value(idx, "gpc0", gpc0)
        table.untrack(idx)
    lua = LuaEngine(logging.getLogger("test"), default_registry(), PatternLibrary("."))
    lua.runtime.globals.st = lua.stick_table_object(table)
    return lua


def run(engine: LuaEngine, code: str) -> object:
    return engine.runtime.lua.execute(code)


def test_info(engine: LuaEngine) -> None:
    assert run(engine, """local i = st:info()
        return i.type, i.length, i.size, i.used, i.nopurge, i.expire, i.data.gpc0, i.data.conn_rate""") == (
        "ip", 4, 10, 2, False, 10000, -1, 5000)


def test_lookup(engine: LuaEngine) -> None:
    assert run(engine, """local e = st:lookup("10.0.0.1")
        return e.gpc0, e.conn_rate, e.use, e.expire > 9000, st:lookup("10.9.9.9"), st:lookup("not an ip")""") == (
        3, 1, 0, True, None, None)


def test_dump_with_and_without_filter(engine: LuaEngine) -> None:
    assert run(engine, """local all, some = st:dump(), st:dump({{"gpc0", "gt", 1}, {"conn_rate", "le", 10}})
        local n = 0 for _ in pairs(all) do n = n + 1 end
        local m = 0 for _ in pairs(some) do m = m + 1 end
        return n, m, some["10.0.0.1"].gpc0, all["10.0.0.2"].conn_rate""") == (2, 1, 3, 1)


def test_bad_filters_raise(engine: LuaEngine) -> None:
    with pytest.raises(LuaError, match="Unknown filter operator"):
        run(engine, 'return st:dump({{"gpc0", "zz", 1}})')
    with pytest.raises(LuaError, match="Unknown filter data name"):
        run(engine, 'return st:dump({{"nope", "eq", 1}})')


def test_arrays_and_server_key_as_haproxy_gives_them() -> None:
    """An array by its first element, server_key as text ('-' when none), as hlua's entry dump does."""
    table = SharedTable(parse_table_args("be", ("type", "string", "size", "10", "store",
                                                "server_key,gpc(2),gpc_rate(2,10s)")))
    idx = table.get_or_create(b"alice")
    table.count(idx, "gpc[0]")
    table.set_server_key(idx, "s1")
    table.get_or_create(b"bob")
    lua = LuaEngine(logging.getLogger("test"), default_registry(), PatternLibrary("."))
    lua.runtime.globals.st = lua.stick_table_object(table)
    assert run(lua, """local a, b, i = st:lookup("alice"), st:lookup("bob"), st:info()
        return a.server_key, a.gpc, a.gpc_rate, b.server_key, i.data.gpc, i.data.gpc_rate,
               st:dump({{"gpc", "eq", 1}})["alice"].server_key""") == ("s1", 1, 1, "-", -1, 10000, "s1")
