"""core.tcp(): the LuaSocket-compatible Socket against real servers (plain, TLS, redis)."""

from __future__ import annotations

import socket
import ssl

import pytest

from tests.helpers import RedisServer, TcpServer, free_port, make_certificate, talk, wait_until

CONFIG = """
global
   lua-load sock.lua
defaults
   timeout client 10s
listen p
   bind 127.0.0.1:{port}
   tcp-request content lua.{action}
"""


class ScriptedServer(TcpServer):
    """Accepts connections, sends *payload*, then closes or holds the connection open."""

    def __init__(self, payload: bytes, hold: bool = False, tls: ssl.SSLContext | None = None) -> None:
        self.payload, self.hold, self.tls = payload, hold, tls
        super().__init__()

    def handle(self, conn: socket.socket, received: bytearray) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            conn.settimeout(5)
            conn.sendall(self.payload)
            if self.hold:
                while data := conn.recv(65536):
                    received += data
            conn.close()
        except OSError:
            pass

    def last_received(self, expected: bytes) -> bool:
        """Wait (bounded) until the latest connection has sent *expected*."""
        return wait_until(lambda: bool(self.connections) and bytes(self.connections[-1]) == expected, 5)


def run_action(write, luaproxy, port, body: str) -> list[str]:
    write("sock.lua", 'core.register_action("t", {"tcp-req"}, function(txn)\n'
          '  local function out(...) local t = {...}; for i = 1, select("#", ...) do t[i] = tostring(t[i]) end;'
          ' txn.res:send(table.concat(t, "|") .. "\\n") end\n' + body + "\n  txn:done()\nend)\n")
    write("sock.cfg", CONFIG.format(port=port, action="t"))
    luaproxy("-f", "sock.cfg", wait_port=port)
    return talk(port, timeout=10).decode().splitlines()


def test_receive_patterns(write, luaproxy, port):
    server = ScriptedServer(b"first\r\nsecond\nabcdefgh" + b"rest of it")
    try:
        lines = run_action(write, luaproxy, port, f"""
          local s = core.tcp()
          out(s:connect("127.0.0.1", {server.port}))
          out(s:receive())
          out(s:receive("*l"))
          out(s:receive(4))
          out(s:receive(4, "pre:"))
          out(s:receive("*a"))
          out(s:receive())
          s:close()""")
    finally:
        server.close()
    assert lines == ["1", "first", "second", "abcd", "pre:efgh", "rest of it", "nil|closed|"]


def test_partial_results_on_close_and_timeout(write, luaproxy, port):
    closing = ScriptedServer(b"no newline")
    holding = ScriptedServer(b"slow", hold=True)
    try:
        lines = run_action(write, luaproxy, port, f"""
          local a = core.tcp()
          a:connect("127.0.0.1", {closing.port})
          out(a:receive(100))
          local b = core.tcp()
          b:settimeout(0.2)
          b:connect("127.0.0.1", {holding.port})
          out(b:receive("*l"))
          b:close()""")
    finally:
        closing.close()
        holding.close()
    assert lines == ["nil|closed|no newline", "nil|timeout|slow"]


def test_send_ranges_names_and_options(write, luaproxy, port):
    server = ScriptedServer(b"", hold=True)
    try:
        lines = run_action(write, luaproxy, port, f"""
          local s = core.tcp()
          s:settimeout(2)
          out(s:connect("localhost", {server.port}))
          out(s:send("0123456789"))
          out(s:send("0123456789", 3, 5))
          out(s:send("0123456789", -2))
          out(s:setoption("tcp-nodelay", true))
          local ip, p = s:getpeername()
          out(ip, p == {server.port})
          local lip, lp = s:getsockname()
          out(lip, type(lp))
          s:close()
          out(s:send("x"))""")
        assert lines == ["1", "10", "5", "10", "1", "127.0.0.1|true", "127.0.0.1|number", "nil|closed|0"]
        assert server.last_received(b"0123456789" + b"234" + b"89")
    finally:
        server.close()


def test_connect_failure_is_a_value_not_an_error(write, luaproxy, port):
    dead = free_port()  # reserved for this test: nobody listens there
    lines = run_action(write, luaproxy, port, f"""
      local s = core.tcp()
      local ok, err = s:connect("127.0.0.1", {dead})
      out(ok, err:match("^Can't connect") ~= nil)""")
    assert lines == ["nil|true"]


def test_connect_ssl_with_sni(write, luaproxy, port, tmp_path):
    cert, key = make_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ScriptedServer(b"secret line\n", hold=True, tls=context)
    seen_sni: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: seen_sni.append(name)
    try:
        lines = run_action(write, luaproxy, port, f"""
          local s = core.tcp()
          s:settimeout(5)
          out(s:connect_ssl("localhost", {server.port}))
          out(s:receive())
          out(s:send("over tls"))
          s:close()""")
        assert lines == ["1", "secret line", "8"]
        assert server.last_received(b"over tls")
    finally:
        server.close()
    assert set(seen_sni) == {"localhost"}


@pytest.fixture
def redis(tmp_path):
    import shutil
    from pathlib import Path

    if shutil.which("redis-server") is None or not Path("/usr/share/lua/5.3/redis.lua").exists():
        pytest.skip("needs Debian's redis-server and lua-redis (tests/run.sh installs them)")
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def test_spec_redis_example(write, luaproxy, port, redis):
    """The spec's example verbatim (only the port is the test's redis), then set/get/incr."""
    write("redis_example.lua", f"""
        -- load the redis library
        local redis = require("redis");

        function do_something(txn)

           -- create and connect new tcp socket
           local tcp = core.tcp();
           tcp:settimeout(1);
           tcp:connect("127.0.0.1", {redis.port});

           -- use the redis library with this new socket
           local client = redis.connect({{socket=tcp}});
           client:ping();

        end

        function count_visit(txn)
           local tcp = core.tcp()
           tcp:settimeout(1)
           tcp:connect("127.0.0.1", {redis.port})
           local client = redis.connect({{socket=tcp}})
           client:set("greeting", "hello from redis")
           local visits = client:incr("visits")
           txn.res:send(client:get("greeting") .. " #" .. visits .. "\\n")
           client:quit()
           txn:close()
        end
        """)
    write("r.cfg", f"""
        global
           lua-prepend-path /usr/share/lua/5.3/?.lua
           lua-load redis_example.lua
        defaults
           timeout client 10s
        listen p
           bind 127.0.0.1:{port}
           tcp-request content lua do_something
           tcp-request content lua count_visit
        """)
    luaproxy("-f", "r.cfg", wait_port=port)
    first = talk(port)
    second = talk(port)
    assert first.startswith(b"hello from redis #")
    assert int(second.split(b"#")[1]) == int(first.split(b"#")[1]) + 1
