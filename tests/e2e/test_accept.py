"""The worker's accept path: the global maxconn bounds the connections a worker serves at once."""

from __future__ import annotations

import socket

from tests.helpers import read_all


def test_global_maxconn_leaves_extra_connections_in_the_backlog(write, luaproxy, port, echo_server):
    write("t.cfg", f"""
        global
           maxconn 2
        defaults
           mode tcp
           timeout connect 2s
           timeout client 10s
           timeout server 10s
        frontend fe
           bind 127.0.0.1:{port}
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
        assert read_all(third, 0.5) == b""  # kept in the kernel's backlog: the worker is full
        first.close()
        third.settimeout(5)
        assert third.recv(16) == b"three"  # a slot freed: accepted and served
        second.sendall(b"again")
        assert second.recv(16) == b"again"
