"""CONNECT and Upgrade: after a 2xx or a 101 the stream becomes a tunnel, as in HAProxy.

Before tunnels existed, a 2xx to CONNECT made the response relay spin forever
(100% CPU, the worker deaf to every other client and to SIGTERM).
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.helpers import TcpServer, http_exchange, read_all


class SwitchingServer(TcpServer):
    """Answers CONNECT with 200 and anything else with 101, then echoes each read with a prefix."""

    def __init__(self) -> None:
        super().__init__()
        self.heads: list[bytes] = []

    def handle(self, conn: socket.socket, received: bytearray) -> None:
        conn.settimeout(10)
        with conn:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, rest = data.split(b"\r\n\r\n", 1)
                self.heads.append(head)
                if head.startswith(b"CONNECT"):
                    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                else:
                    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\n\r\n")
                if rest:
                    conn.sendall(b"echo:" + rest)
                while chunk := conn.recv(65536):
                    conn.sendall(b"echo:" + chunk)
            except OSError:
                return
            self.closed += 1


@pytest.fixture
def switching():
    server = SwitchingServer()
    yield server
    server.close()


def start(write, luaproxy, port, backend_port: int, extra: str = "") -> None:
    write("t.cfg", f"""
        global
           nbproc 1
        defaults
           mode http
           timeout connect 2s
           timeout client 5s
           timeout server 5s
           {extra}
        frontend fe
           bind 127.0.0.1:{port}
           default_backend be
        backend be
           server s1 127.0.0.1:{backend_port}
        """)
    luaproxy("-f", "t.cfg", wait_port=port)


def read_until(sock: socket.socket, marker: bytes, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_connect_2xx_tunnels_both_ways_and_the_worker_keeps_serving(write, luaproxy, port, switching):
    start(write, luaproxy, port, switching.port)
    tunnels = []
    for _ in range(4):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nearly")
        assert read_until(sock, b"echo:early").startswith(b"HTTP/1.1 200 Connection established\r\n")
        sock.sendall(b"ping")
        assert read_until(sock, b"echo:ping").endswith(b"echo:ping")
        tunnels.append(sock)
    # Four open tunnels, and the single worker still answers a plain request at once
    # (502: this server answers 101 to a request that asked for no upgrade).
    reply = http_exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 502 ")
    for sock in tunnels:
        sock.shutdown(socket.SHUT_WR)
        assert read_all(sock) == b""
        sock.close()


def test_websocket_upgrade_keeps_connection_upgrade_and_tunnels(write, luaproxy, port, switching):
    start(write, luaproxy, port, switching.port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = read_until(sock, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"connection: upgrade" in head.lower()
        sock.sendall(b"frame")
        assert read_until(sock, b"echo:frame").endswith(b"echo:frame")
    sent = switching.heads[0].lower()
    assert b"\r\nconnection: upgrade" in sent and b"\r\nupgrade: websocket" in sent


def test_tunnel_ends_after_timeout_tunnel_of_silence(write, luaproxy, port, switching):
    start(write, luaproxy, port, switching.port, extra="timeout tunnel 1s")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        assert read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert read_all(sock, timeout=5) == b""
        assert 0.8 < time.monotonic() - started < 4


def test_connect_refused_by_the_server_stays_http(write, luaproxy, port):
    class Refusing(TcpServer):
        def handle(self, conn: socket.socket, received: bytearray) -> None:
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")

    server = Refusing()
    try:
        start(write, luaproxy, port, server.port)
        reply = http_exchange(port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 403") and reply.endswith(b"no")
    finally:
        server.close()
