"""CONNECT and Upgrade: after a 2xx or a 101 the stream becomes a tunnel, as in HAProxy.

Before tunnels existed, a 2xx to CONNECT made the response relay spin forever
(100% CPU, the worker deaf to every other client and to SIGTERM).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import time

import pytest

from tests.helpers import TcpServer, http_exchange, read_all, recv_until, wait_until


class SwitchingServer(TcpServer):
    """Answers CONNECT with 200 and anything else with 101, then echoes each read with a prefix."""

    def __init__(self) -> None:
        super().__init__()
        self.heads: list[bytes] = []

    def handle(self, conn: socket.socket, received: bytearray) -> None:
        conn.settimeout(10)
        with conn:
            try:
                data = recv_until(conn, b"\r\n\r\n")
                if data is None:
                    return
                head, rest = data.split(b"\r\n\r\n", 1)
                self.heads.append(head)
                if head.startswith(b"CONNECT"):
                    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                else:
                    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept(head) + b"\r\n\r\n")
                if rest:
                    conn.sendall(b"echo:" + rest)
                while chunk := conn.recv(65536):
                    conn.sendall(b"echo:" + chunk)
            except OSError:
                return
            self.closed += 1


def accept(head: bytes) -> bytes:
    """RFC 6455's answer to the request's Sec-WebSocket-Key."""
    keys = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")]
    digest = hashlib.sha1((keys[0] if keys else b"") + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    return base64.b64encode(digest)


@pytest.fixture
def switching():
    server = SwitchingServer()
    yield server
    server.close()


def start(write, luaproxy, port, backend_port: int, extra: str = "") -> object:
    write("t.cfg", f"""
        global
           nbproc 1
           log stdout format raw local0 info
        defaults
           mode http
           log global
           option httplog
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
    return luaproxy("-f", "t.cfg", wait_port=port)


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


WEBSOCKET = (b"GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Version: 13\r\n")


@pytest.mark.parametrize("key", [b"", b"Sec-WebSocket-Key: short\r\n",
                                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZXh4eA==\r\n"])
def test_websocket_upgrade_without_a_valid_key_is_a_400(write, luaproxy, port, switching, key):
    """As haproxy 2.6: a missing key, or one that is not 24 characters long, is refused."""
    start(write, luaproxy, port, switching.port)
    assert http_exchange(port, WEBSOCKET + key + b"\r\n").startswith(b"HTTP/1.1 400 ")
    assert switching.heads == []


def test_a_101_without_sec_websocket_accept_is_a_502(write, luaproxy, port):
    class NoAccept(TcpServer):
        def handle(self, conn: socket.socket, received: bytearray) -> None:
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                time.sleep(0.5)

    server = NoAccept()
    try:
        start(write, luaproxy, port, server.port)
        reply = http_exchange(port, WEBSOCKET + b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 502 ")
    finally:
        server.close()


def test_tunnels_are_logged_with_their_bytes_and_how_they_ended(write, luaproxy, port, switching):
    """haproxy 2.6 logs a tunnel once it ends: ---- when a side closed, cD-- after timeout tunnel."""
    proc = start(write, luaproxy, port, switching.port, extra="timeout tunnel 1s")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"CONNECT closed.example:443 HTTP/1.1\r\nHost: closed.example:443\r\n\r\n")
        read_until(sock, b"\r\n\r\n")
        sock.sendall(b"x" * 1000)
        read_until(sock, b"x" * 995)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"CONNECT idle.example:443 HTTP/1.1\r\nHost: idle.example:443\r\n\r\n")
        read_until(sock, b"\r\n\r\n")
        assert read_all(sock, timeout=5) == b""

    def line(host: str) -> str:
        return next((x for x in proc.stdout().splitlines() if host in x), "")

    assert wait_until(lambda: line("idle.example") and line("closed.example"), 5), proc.stdout()
    closed = line("closed.example").split()
    # status, bytes to the client (head 39 + echo:x*1000), termination state
    assert closed[5] == "200" and int(closed[6]) >= 39 + 1005 and closed[9] == "----", closed
    assert line("idle.example").split()[9] == "cD--"
