"""HTTP edge cases where luaproxy differed from haproxy 2.6 (issue 18, items 7 and 8)."""

from __future__ import annotations

import socket
import time

import pytest

from tests.helpers import TcpServer, read_all, wait_until

from .kit import RecordingBackend


@pytest.fixture
def backend():
    server = RecordingBackend()
    yield server
    server.close()


def start(write, luaproxy, port: int, backend_port: int) -> object:
    write("edges.cfg", f"""
        global
           nbproc 1
           log stdout format raw local0 info
        defaults
           mode http
           log global
           option httplog
           timeout connect 1s
           timeout client 5s
           timeout server 5s
        frontend fe
           bind 127.0.0.1:{port}
           default_backend be
        backend be
           server s1 127.0.0.1:{backend_port}
        """)
    return luaproxy("-f", "edges.cfg", wait_port=port)


def exchange(port: int, *parts: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for part in parts:
            sock.sendall(part)
            time.sleep(0.1)
        return read_all(sock, timeout)


def test_http10_without_host_stays_http10(write, luaproxy, port, backend):
    """Before: sent on as HTTP/1.1 without Host, which servers such as nginx refuse."""
    start(write, luaproxy, port, backend.port)
    reply = exchange(port, b"GET /old HTTP/1.0\r\nUser-Agent: t\r\n\r\n")
    assert reply.startswith(b"HTTP/1.0 200") or reply.startswith(b"HTTP/1.1 200"), reply
    assert backend.requests == [b"GET /old HTTP/1.0"]
    assert b"\r\nconnection: keep-alive" in bytes(backend.connections[0]).lower()


def test_malformed_chunk_after_the_head_is_the_clients_fault(write, luaproxy, port, backend):
    """Before: 502 and SH-- (the server blamed); haproxy 2.6: 400, PH--, counted in the frontend's ereq."""
    proc = start(write, luaproxy, port, backend.port)
    reply = exchange(port, b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
                     b"3\r\nabc\r\nzz\r\nabc\r\n0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert wait_until(lambda: '"POST /up HTTP/1.1"' in proc.stdout(), 5)
    line = next(x for x in proc.stdout().splitlines() if "/up" in x)
    assert " 400 " in line and " PH-- " in line, line


@pytest.mark.parametrize("trailer", [b"Content-Length: 5", b"Transfer-Encoding: chunked"])
def test_framing_fields_in_trailers_are_refused(write, luaproxy, port, backend, trailer):
    start(write, luaproxy, port, backend.port)
    reply = exchange(port, b"POST /t HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
                     b"3\r\nabc\r\n0\r\n" + trailer + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert b"0\r\n" + trailer.lower() not in b"".join(bytes(r) for r in backend.connections).lower()


class EarlyAnswer(TcpServer):
    """Reads the head only, answers 413 at once, stops reading, closes a moment later."""

    def handle(self, conn: socket.socket, received: bytearray) -> None:
        with conn:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig!")
                conn.shutdown(socket.SHUT_WR)
                time.sleep(0.5)
            except OSError:
                return


def test_an_early_answer_reaches_a_client_still_uploading(write, luaproxy, port):
    """Before: the uploading client was reset after about 2.6 MB and never saw the 413."""
    server = EarlyAnswer()
    try:
        start(write, luaproxy, port, server.port)
        size = 8 * 1024 * 1024
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
            chunk = b"x" * 65536
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
            reply = read_all(sock, 5)
        assert reply.startswith(b"HTTP/1.1 413 ") and reply.endswith(b"big!"), reply[:200]
    finally:
        server.close()
