"""Connection, session and stream addresses: fc_src keeps what tcp-request connection rules set, src moves
with later rules and each request starts again from the session's."""

from __future__ import annotations

import socket

from luaproxy.worker.conn import proxy_protocol as pp
from tests.helpers import free_port

SHOW = 'http-request return status 200 content-type text/plain lf-string "%[fc_src] %[src] %[var(sess.s)]"'


def ask(sock: socket.socket, extra: str = "") -> bytes:
    sock.sendall(f"GET / HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    return sock.recv(4096).rpartition(b"\r\n\r\n")[2]


def test_connection_session_and_stream_levels(write, luaproxy, port) -> None:
    behind = free_port()
    write("a.cfg", f"""
        defaults
           mode http
           timeout client 3s
        frontend fe
           bind 127.0.0.1:{port}
           tcp-request connection set-src ipv4(10.0.0.1)
           tcp-request session set-src ipv4(10.1.0.1)
           tcp-request session set-var(sess.s) src
           http-request set-src hdr(x-src) if {{ req.hdr(x-src) -m found }}
           {SHOW}
        frontend behind_proxy
           bind 127.0.0.1:{behind} accept-proxy
           tcp-request connection set-src ipv4(10.9.0.1)
           {SHOW}
        """)
    luaproxy("-f", "a.cfg", wait_port=behind)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert ask(sock) == b"10.0.0.1 10.1.0.1 10.1.0.1"
        assert ask(sock, "x-src: 192.0.2.1\r\n") == b"10.0.0.1 192.0.2.1 10.1.0.1"
        assert ask(sock) == b"10.0.0.1 10.1.0.1 10.1.0.1"  # a new request starts from the session's
    with socket.create_connection(("127.0.0.1", behind), timeout=5) as sock:
        sock.sendall(pp.build_v1(("192.0.2.9", 1), ("192.0.2.10", 80)))
        assert ask(sock) == b"10.9.0.1 192.0.2.9 "  # the PROXY header's address stays the session's


ADDRESSES_LUA = """
core.register_action("addresses", {"tcp-req"}, function(txn)
   txn.res:send(string.format("%s %s %s %s", txn.f:src(), txn.f:src_port(), txn.f:dst(), txn.f:dst_port()))
   txn:done()
end)
"""


def test_tcp_addresses_on_fixed_wildcard_and_ipv6_binds(write, luaproxy, port) -> None:
    """A fixed bind's connections take their addresses from accept() and the bind (worker.listener);
    a wildcard bind's ask the socket: both give what the client's own socket says."""
    wildcard, v6, v6_wildcard = free_port(), free_port(), free_port()
    write("a.lua", ADDRESSES_LUA)
    write("a.cfg", f"""
        global
           lua-load a.lua
        defaults
           mode tcp
           timeout client 3s
        frontend fe
           bind 127.0.0.1:{port}
           bind 0.0.0.0:{wildcard}
           bind [::1]:{v6}
           bind :::{v6_wildcard} v4v6
           tcp-request content lua.addresses
        """)
    luaproxy("-f", "a.cfg", wait_port=port)
    for family, host, to in ((socket.AF_INET, "127.0.0.1", port), (socket.AF_INET, "127.0.0.1", wildcard),
                             (socket.AF_INET6, "::1", v6), (socket.AF_INET6, "::1", v6_wildcard),
                             (socket.AF_INET, "127.0.0.1", v6_wildcard)):
        with socket.socket(family) as sock:
            sock.settimeout(5)
            sock.connect((host, to))
            src, src_port = sock.getsockname()[:2]
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        dst = host if to != v6_wildcard or family == socket.AF_INET6 else f"::ffff:{host}"
        src = src if to != v6_wildcard or family == socket.AF_INET6 else f"::ffff:{src}"
        assert answer.decode() == f"{src} {src_port} {dst} {to}", (host, to)
