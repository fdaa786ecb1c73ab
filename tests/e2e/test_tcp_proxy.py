"""TCP mode without Lua and with response actions: relay, half-close, timeouts, switching."""

from __future__ import annotations

import errno
import socket
import time

from tests.helpers import EchoServer, free_port, read_all, talk


def refused(port: int, data: bytes) -> bool:
    """The connection ended with nothing sent back: a close, or a reset when the proxy closed with *data*
    unread (haproxy closes at once on a reject too, and the client's shutdown then finds no connection)."""
    try:
        return talk(port, data, shutdown=True) == b""
    except OSError as exc:
        return exc.errno in (errno.ENOTCONN, errno.ECONNRESET)


def test_plain_relay_both_ways(write, luaproxy, port, echo_server):
    write("t.cfg", f"""
        defaults
           timeout connect 2s
           timeout client 5s
           timeout server 5s
        frontend fe
           bind 127.0.0.1:{port}
           default_backend be
        backend be
           server s1 127.0.0.1:{echo_server.port}
        """)
    luaproxy("-f", "t.cfg", wait_port=port)
    payload = b"x" * 200_000
    assert talk(port, payload, shutdown=True) == payload


def test_tcp_response_lua_action_spec_form(write, luaproxy, port, echo_server):
    write("r.lua", """
        function on_response(txn)
           local data = txn.res:get()
           txn.res:send("[" .. data:upper() .. "]")
        end
        """)
    write("t.cfg", f"""
        global
           lua-load r.lua
        defaults
           timeout connect 2s
           timeout client 5s
           timeout server 5s
        listen p
           bind 127.0.0.1:{port}
           tcp-response content lua on_response
           server s1 127.0.0.1:{echo_server.port}
        """)
    luaproxy("-f", "t.cfg", wait_port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"hello")
        first = s.recv(100)
        s.sendall(b"again")
        rest = read_all(s, 1.0)
    assert first == b"[HELLO]"
    assert rest == b"again"


def test_modern_tcp_res_action_with_args(write, luaproxy, port, echo_server):
    write("r.lua", """
        core.register_action("tag", {"tcp-res"}, function(txn, a, b)
           txn.res:send(a .. "+" .. b .. ":")
        end, 2)
        """)
    write("t.cfg", f"""
        global
           lua-load r.lua
        defaults
           timeout client 5s
           timeout server 5s
        listen p
           bind 127.0.0.1:{port}
           tcp-response content lua.tag one two
           server s1 127.0.0.1:{echo_server.port}
        """)
    luaproxy("-f", "t.cfg", wait_port=port)
    assert talk(port, b"ping", shutdown=True) == b"one+two:ping"


def test_reject_and_accept(write, luaproxy, port, echo_server):
    other = free_port()
    write("t.cfg", f"""
        defaults
           timeout client 5s
           timeout server 5s
        listen yes
           bind 127.0.0.1:{port}
           tcp-request content accept
           tcp-request content reject
           server s1 127.0.0.1:{echo_server.port}
        listen no
           bind 127.0.0.1:{other}
           tcp-request content reject
           server s1 127.0.0.1:{echo_server.port}
        """)
    luaproxy("-f", "t.cfg", wait_port=port)
    assert talk(port, b"ok", shutdown=True) == b"ok"
    assert refused(other, b"no")


def test_roundrobin_over_two_servers(write, luaproxy, port):
    a, b = EchoServer(b"A"), EchoServer(b"B")
    try:
        write("t.cfg", f"""
            defaults
               timeout client 5s
               timeout server 5s
            listen p
               bind 127.0.0.1:{port}
               balance roundrobin
               server a 127.0.0.1:{a.port}
               server b 127.0.0.1:{b.port}
            """)
        luaproxy("-f", "t.cfg", wait_port=port)
        answers = [talk(port, b"x", shutdown=True) for _ in range(6)]
        assert sorted(answers) == [b"Ax"] * 3 + [b"Bx"] * 3
    finally:
        a.close()
        b.close()


def test_no_server_available_closes(write, luaproxy, port):
    dead_port = free_port()  # reserved for this test: nobody listens there
    write("t.cfg", f"""
        defaults
           timeout connect 500ms
           timeout client 5s
           timeout server 5s
        listen p
           bind 127.0.0.1:{port}
           retries 1
           server a 127.0.0.1:{dead_port}
        """)
    luaproxy("-f", "t.cfg", wait_port=port)
    start = time.monotonic()
    assert talk(port, b"x") == b""
    assert time.monotonic() - start < 4


def test_client_timeout_closes_idle_connection(write, luaproxy, port, echo_server):
    write("t.cfg", f"""
        defaults
           timeout client 300ms
           timeout server 300ms
        listen p
           bind 127.0.0.1:{port}
           server s1 127.0.0.1:{echo_server.port}
        """)
    luaproxy("-f", "t.cfg", wait_port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        start = time.monotonic()
        assert read_all(s, 4) == b""
        assert 0.2 < time.monotonic() - start < 3
