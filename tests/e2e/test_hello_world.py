"""The spec's hello world, verbatim and in today's HAProxy syntax."""

from __future__ import annotations

from tests.helpers import talk

SPEC_CONFIG = """
global
   lua-load hello_world.lua

listen proxy
   bind 127.0.0.1:{port}
   tcp-request content lua hello_world
"""

SPEC_SCRIPT = """
function hello_world(txn)
   txn.res:send("hello world\\n")
   txn:close()
end
"""


def test_spec_hello_world_verbatim(write, luaproxy, port):
    write("hello_world.conf", SPEC_CONFIG.format(port=port))
    write("hello_world.lua", SPEC_SCRIPT)
    luaproxy("-f", "hello_world.conf", wait_port=port)
    assert talk(port) == b"hello world\n"


def test_hello_world_modern_syntax(write, luaproxy, port):
    write("hello.cfg", f"""
        global
           lua-load hello.lua
        defaults
           mode tcp
           timeout client 5s
        frontend fe
           bind 127.0.0.1:{port}
           tcp-request content lua.hello_world
        """)
    write("hello.lua", """
        core.register_action("hello_world", {"tcp-req"}, function(txn)
           txn.res:send("hello world\\n")
           txn:done()
        end)
        """)
    luaproxy("-f", "hello.cfg", wait_port=port)
    assert talk(port) == b"hello world\n"


def test_hello_world_many_clients(write, luaproxy, port):
    write("hello_world.conf", SPEC_CONFIG.format(port=port))
    write("hello_world.lua", SPEC_SCRIPT)
    luaproxy("-f", "hello_world.conf", wait_port=port)
    assert all(talk(port) == b"hello world\n" for _ in range(50))

