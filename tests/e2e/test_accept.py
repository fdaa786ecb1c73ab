"""The worker's accept path: the global and a frontend's maxconn bound the connections a worker serves at once."""

from __future__ import annotations

import socket

import pytest

from tests.helpers import read_all


@pytest.mark.parametrize("where", ["global", "frontend"])
def test_maxconn_leaves_extra_connections_unserved(write, luaproxy, port, echo_server, where):
    global_limit, frontend_limit = ("maxconn 2", "") if where == "global" else ("", "maxconn 2")
    write("t.cfg", f"""
        global
           {global_limit}
        defaults
           mode tcp
           timeout connect 2s
           timeout client 10s
           timeout server 10s
        frontend fe
           bind 127.0.0.1:{port}
           {frontend_limit}
           default_backend be
        backend be
           server s1 127.0.0.1:{echo_server.port}
        """)
    luaproxy("-f", "t.cfg", wait_port=port)
    first, second = (socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2))
    with first, second, socket.create_connection(("127.0.0.1", port), timeout=5) as third:
        for client, word in ((first, b"one"), (second, b"two")):
            client.sendall(word)
            assert client.recv(16) == word
        third.sendall(b"three")
        assert read_all(third, 0.5) == b""  # the worker or the frontend is full: not served
        first.close()
        third.settimeout(5)
        assert third.recv(16) == b"three"  # a slot freed: accepted and served
        second.sendall(b"again")
        assert second.recv(16) == b"again"
