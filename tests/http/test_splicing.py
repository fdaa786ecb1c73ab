"""``option splice-request|splice-response``: 1 MB bodies both ways through the kernel (os.splice), intact,
counted in ``h1_spliced_bytes_in/out`` and in the byte counters; ``nosplice`` copies them as before."""

from __future__ import annotations

import hashlib
import re
import socket
import time

import pytest

from tests.helpers import TcpServer, free_port
from tests.supervisor.conftest import cli

SIZE = 1 << 20
BODY = bytes(range(256)) * (SIZE // 256)
FIELD = re.compile(r"([FB])\.10\.0\.\d+\.(h1_spliced_bytes_in|h1_spliced_bytes_out|bin|bout)\.1:\w+:u64:(\d+)$")


class BodyServer(TcpServer):
    """Reads one request with a Content-Length body; answers its SHA-256 in a header and SIZE bytes, framed by
    Content-Length, or by the close on ``/close``."""

    def handle(self, conn: socket.socket, received: bytearray) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return  # the proxy gave up on this request
                body += chunk
            digest = hashlib.sha256(body).hexdigest().encode()
            if head.split(b" ")[1] == b"/close":
                conn.sendall(b"HTTP/1.1 200 OK\r\nx-digest: " + digest + b"\r\nconnection: close\r\n\r\n" + BODY)
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nx-digest: " + digest
                             + f"\r\ncontent-length: {SIZE}\r\n\r\n".encode() + BODY)


def exchange(port: int, path: str, body: bytes) -> tuple[bytes, bytes]:
    """One request (POST with *body*, or GET); the response's head and body (read to the close)."""
    method = b"POST" if body else b"GET"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(method + f" {path} HTTP/1.1\r\nhost: t\r\ncontent-length: {len(body)}\r\n"
                     "connection: close\r\n\r\n".encode() + body)
        data = bytearray()
        while chunk := sock.recv(262144):
            data += chunk
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    return head, rest


def typed(stats_port: int) -> dict[str, int]:
    """``show stat typed``'s h1_spliced_bytes_* and bin/bout per F/B row of proxy 10."""
    values = {}
    for line in cli(stats_port, "show stat typed\n").splitlines():
        match = FIELD.match(line)
        if match:
            values[f"{match[1]}.{match[2]}"] = int(match[3])
    return values


@pytest.mark.parametrize("nosplice", [False, True], ids=["splice", "nosplice"])
def test_one_megabyte_both_ways(write, luaproxy, nosplice):
    server = BodyServer()
    port, stats = free_port(), free_port()
    try:
        write("splice.cfg", f"""
            global
               stats socket ipv4@127.0.0.1:{stats} level admin
               {"nosplice" if nosplice else ""}
            defaults
               mode http
               timeout connect 5s
               timeout client 10s
               timeout server 10s
               option splice-request
               option splice-response
            listen li
               id 10
               bind 127.0.0.1:{port}
               server s 127.0.0.1:{server.port}
            """)
        luaproxy("-f", "splice.cfg", wait_port=port)
        head, body = exchange(port, "/", BODY)
        assert head.startswith(b"HTTP/1.1 200") and body == BODY
        assert hashlib.sha256(BODY).hexdigest().encode() in head  # the server got the request body intact
        head, body = exchange(port, "/close", b"")
        assert head.startswith(b"HTTP/1.1 200") and b"content-length" not in head.lower() and body == BODY
        values = typed(stats)
        assert values["F.bin"] > SIZE and values["B.bin"] > SIZE
        assert values["F.bout"] > 2 * SIZE and values["B.bout"] > 2 * SIZE
        if nosplice:
            assert {v for k, v in values.items() if "spliced" in k} == {0}
        else:
            # Most of each body is spliced (what came in the head's read is copied).
            assert SIZE // 2 < values["F.h1_spliced_bytes_in"] <= SIZE
            assert SIZE < values["F.h1_spliced_bytes_out"] <= 2 * SIZE
            assert SIZE < values["B.h1_spliced_bytes_in"] <= 2 * SIZE
            assert SIZE // 2 < values["B.h1_spliced_bytes_out"] <= SIZE
    finally:
        server.close()


class StallingServer(TcpServer):
    """Announces SIZE bytes, sends a quarter of them, then goes silent."""

    def handle(self, conn: socket.socket, received: bytearray) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(f"HTTP/1.1 200 OK\r\ncontent-length: {SIZE}\r\n\r\n".encode() + BODY[:SIZE // 4])
            time.sleep(5)


def test_a_stalled_spliced_body_ends_at_timeout_server(write, luaproxy):
    server = StallingServer()
    port = free_port()
    try:
        write("stall.cfg", f"""
            defaults
               mode http
               timeout connect 5s
               timeout client 10s
               timeout server 1s
               option splice-response
            listen li
               bind 127.0.0.1:{port}
               server s 127.0.0.1:{server.port}
            """)
        luaproxy("-f", "stall.cfg", wait_port=port)
        started = time.monotonic()
        head, body = exchange(port, "/", b"")
        assert head.startswith(b"HTTP/1.1 200") and len(body) < SIZE
        assert 0.8 < time.monotonic() - started < 4
    finally:
        server.close()


def test_a_client_leaving_mid_body_cuts_the_spliced_request_only(write, luaproxy):
    server = BodyServer()
    port = free_port()
    try:
        write("cut.cfg", f"""
            defaults
               mode http
               timeout connect 5s
               timeout client 5s
               timeout server 5s
               option splice-auto
            listen li
               bind 127.0.0.1:{port}
               server s 127.0.0.1:{server.port}
            """)
        luaproxy("-f", "cut.cfg", wait_port=port)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(f"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: {SIZE}\r\n\r\n".encode()
                         + BODY[:SIZE // 3])
            time.sleep(0.3)
        head, body = exchange(port, "/", BODY)  # the worker serves the next one
        assert head.startswith(b"HTTP/1.1 200") and body == BODY
    finally:
        server.close()
