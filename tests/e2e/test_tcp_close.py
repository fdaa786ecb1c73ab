"""How a TCP stream ended by txn:done() closes its client connection: as haproxy 2.6 does (send, half-close,
read what the client sent, close) once the client's request was there, lingering only for a client that had
sent nothing yet."""

from __future__ import annotations

import socket
import time

from luaproxy.worker.netutil import LINGER_SECONDS
from tests.helpers import read_all

HELLO = """
core.register_action("hello", {"tcp-req"}, function(txn)
   txn.res:send("hello world\\n")
   txn:done()
end)
"""


def serve_hello(write, luaproxy, port, rule: str = "tcp-request content lua.hello") -> None:
    write("hello.lua", HELLO)
    write("hello.cfg", f"""
        global
           lua-load hello.lua
        defaults
           mode tcp
           timeout client 5s
        frontend fe
           bind 127.0.0.1:{port}
           {rule}
        """)
    luaproxy("-f", "hello.cfg", wait_port=port)


def test_closed_at_once_after_the_request(write, luaproxy, port) -> None:
    """The request was read with the close: the connection is gone before the linger time would have
    ended, and later bytes meet a reset.  The action waits for the request (inspect-delay), so that it is
    read before the answer whatever the machine's load."""
    serve_hello(write, luaproxy, port, "tcp-request inspect-delay 5s\n           "
                "tcp-request content lua.hello if { req.len gt 0 }")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert read_all(sock) == b"hello world\n"
        deadline = time.monotonic() + LINGER_SECONDS * 0.9
        reset = False
        while not reset and time.monotonic() < deadline:
            try:
                sock.sendall(b"more")
            except OSError:
                reset = True
            time.sleep(0.05)
        assert reset


def test_a_late_request_is_still_read(write, luaproxy, port) -> None:
    """A client whose request comes after the answer (no inspect-delay): the socket lingers and reads it,
    so the client reads the answer with no reset."""
    serve_hello(write, luaproxy, port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        time.sleep(0.3)
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        time.sleep(0.1)
        assert read_all(sock) == b"hello world\n"
