"""Slowloris, connection floods, oversized inputs and tunnel floods, each measured by a probe.

Sizes are bounded so the whole file runs in well under a minute; the probe's
figures are what an innocent client saw during each attack.  The latency bound
(P99_LIMIT) leaves room for a machine shared with other work: on an idle one
the probe's p99 stays in tens of milliseconds.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time

from tests.helpers import read_all

from .kit import ConnectEcho, Probe, rss_kib

SLOW_CLIENTS = 300
IDLE_CLIENTS = 1500
P99_LIMIT = 2.0


def start(write, luaproxy, port: int, backend_port: int | None = None) -> object:
    backend = f"server s1 127.0.0.1:{backend_port}" if backend_port else ""
    write("flood.cfg", f"""
        global
           nbproc 1
           maxconn 4000
        defaults
           mode http
           timeout connect 1s
           timeout client 5s
           timeout server 5s
           timeout http-request 2s
           timeout tunnel 5s
        frontend fe
           bind 127.0.0.1:{port}
           http-request return status 200 content-type text/plain string ok if {{ path /probe }}
           default_backend be
        backend be
           {backend}
        """)
    return luaproxy("-f", "flood.cfg", wait_port=port)


def open_many(port: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            break
    return socks


def test_slowloris(write, luaproxy, port):
    """Heads sent a byte at a time: each gets 408 at timeout http-request, others are served meanwhile."""
    start(write, luaproxy, port)
    with Probe(port) as probe:
        socks = open_many(port, SLOW_CLIENTS)
        for sock in socks:
            sock.sendall(b"GET / HTTP/1.1\r\n")
        answers: dict[socket.socket, bytes] = {}
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            waiting = [sock for sock in socks if sock not in answers]
            readable, _, _ = select.select(waiting, [], [], 0) if waiting else ([], [], [])
            for sock in readable:
                answers[sock] = read_all(sock, 1)[:12]
            for sock in waiting:
                if sock not in answers:
                    with contextlib.suppress(OSError):
                        sock.send(b"X")
            time.sleep(0.5)
        for sock in socks:
            sock.close()
    report = probe.report()
    assert len(socks) == SLOW_CLIENTS
    assert sum(a == b"HTTP/1.1 408" for a in answers.values()) >= 0.95 * SLOW_CLIENTS, list(answers.values())[:5]
    assert report.success >= 0.98 and report.p99 < P99_LIMIT, report


def test_connection_flood(write, luaproxy, port):
    """Many idle connections plus a connect/close storm."""
    proc = start(write, luaproxy, port)
    worker = proc.workers()[0]
    stop = threading.Event()

    def storm() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()

    with Probe(port) as probe:
        idle = open_many(port, IDLE_CLIENTS)
        storms = [threading.Thread(target=storm, daemon=True) for _ in range(3)]
        for thread in storms:
            thread.start()
        time.sleep(3)
        stop.set()
        for thread in storms:
            thread.join(5)
        peak = rss_kib(worker)
        for sock in idle:
            sock.close()
    report = probe.report()
    assert len(idle) == IDLE_CLIENTS
    assert report.success >= 0.98 and report.p99 < P99_LIMIT, report
    assert peak < 200 * 1024, peak


def test_oversized_inputs(write, luaproxy, port):
    """Huge lines, header blocks, chunk sizes and endless heads: a 4xx or a close, memory flat."""
    proc = start(write, luaproxy, port)
    worker = proc.workers()[0]
    before = rss_kib(worker)
    cases = {
        "request line": b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
        "header block": b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Big: " + b"b" * 8000 + b"\r\n" * 1 + (
            b"X-Many: c\r\n" * 20000) + b"\r\n",
        "header count": b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X: y\r\n" * 5000 + b"\r\n",
        "chunk size": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n",
        "content length": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    }
    with Probe(port) as probe:
        for name, data in cases.items():
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                with contextlib.suppress(OSError):
                    sock.sendall(data)
                reply = read_all(sock, 5)
            assert reply == b"" or reply[9:10] == b"4", (name, reply[:100])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n")
            endless = b"X-Endless: " + b"e" * 65536
            sent = 0
            try:
                while sent < 50_000_000:
                    sock.sendall(endless)
                    sent += len(endless)
            except OSError:
                pass
        assert sent < 50_000_000, "an endless head was read without limit"
    report = probe.report()
    assert report.success >= 0.98 and report.p99 < P99_LIMIT, report
    assert rss_kib(worker) - before < 30 * 1024


def test_tunnel_flood(write, luaproxy, port):
    """Many CONNECT tunnels, some streaming megabytes: before the tunnel fix one froze the worker."""
    echo = ConnectEcho()
    try:
        start(write, luaproxy, port, echo.port)
        with Probe(port) as probe:
            tunnels = open_many(port, 100)
            for sock in tunnels:
                sock.sendall(b"CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n")
            heads = [sock.recv(64) for sock in tunnels]

            def stream(sock: socket.socket) -> None:
                payload = b"z" * 65536
                received = 0
                for _ in range(40):
                    sock.sendall(payload)
                    while received < len(payload):
                        received += len(sock.recv(65536))
                    received -= len(payload)

            streams = [threading.Thread(target=stream, args=(sock,), daemon=True) for sock in tunnels[:5]]
            for thread in streams:
                thread.start()
            for thread in streams:
                thread.join(20)
            for sock in tunnels:
                sock.close()
        assert all(h.startswith(b"HTTP/1.1 200") for h in heads)
        assert not any(thread.is_alive() for thread in streams)
        report = probe.report()
        assert report.success >= 0.98 and report.p99 < P99_LIMIT, report
    finally:
        echo.sock.close()
