"""TCP to HTTP upgrade (haproxy 2.6): ``tcp-request content switch-mode http`` and a TCP frontend
using an HTTP backend, on real sockets against a real luaproxy."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers import LUAPROXY, free_port, read_all

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SHOW = 'http-request return status 200 content-type text/plain lf-string "%[var(req.mode)] %[fe_name]'
"""What each answer shows (haproxy 2.6.12 answers the same)."""


def start(write, luaproxy, ports: dict[str, int]):
    write("t.cfg", f"""
        defaults
           timeout connect 2s
           timeout client 3s
           timeout server 3s
        frontend switch
           mode tcp
           bind 127.0.0.1:{ports["switch"]}
           tcp-request inspect-delay 2s
           tcp-request content set-var(req.mode) internal.strm.is_htx,iif(http,tcp)
           tcp-request content switch-mode http if HTTP
           tcp-request content reject
           {SHOW}"
        frontend h1only
           mode tcp
           bind 127.0.0.1:{ports["h1only"]}
           tcp-request inspect-delay 2s
           tcp-request content switch-mode http proto h1 if HTTP
           tcp-request content reject
           default_backend be
        frontend raw
           mode tcp
           bind 127.0.0.1:{ports["raw"]} proto none
           tcp-request inspect-delay 2s
           tcp-request content switch-mode http if HTTP
           default_backend be
        frontend tcp_fe
           mode tcp
           bind 127.0.0.1:{ports["tcp_fe"]}
           default_backend be
        backend be
           mode http
           {SHOW} %[be_name]"
        """)
    return luaproxy("-f", "t.cfg", wait_port=ports["tcp_fe"])


def two_requests(port: int) -> list[bytes]:
    """Two requests on one keep-alive connection: each answer's body."""
    bodies = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for path in (b"/a", b"/b"):
            s.sendall(b"GET " + path + b" HTTP/1.1\r\nhost: x\r\n\r\n")
            bodies.append(read_answer(s))
    return bodies


def read_answer(s: socket.socket) -> bytes:
    """One 200 answer with a content-length: its body."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += s.recv(4096) or pytest.fail(f"closed after {answer!r}")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += s.recv(4096) or pytest.fail(f"closed after {body!r}")
    return body


def test_switch_mode_http_and_http_backend(write, luaproxy) -> None:
    ports = {name: free_port() for name in ("switch", "h1only", "raw", "tcp_fe")}
    start(write, luaproxy, ports)
    # The first request is the TCP stream's (its variables, no second run of the content rules);
    # the next one is an HTTP stream's, which runs them again.
    assert two_requests(ports["switch"]) == [b"tcp switch", b"http switch"]
    assert two_requests(ports["tcp_fe"]) == [b" tcp_fe be", b" tcp_fe be"]
    # switch-mode http proto h1: HTTP/2's preface is a bad request.
    with socket.create_connection(("127.0.0.1", ports["h1only"]), timeout=5) as s:
        s.sendall(PREFACE)
        assert read_all(s, 3).startswith(b"HTTP/1.1 400")
    # bind ... proto none: the connection cannot become HTTP, it closes.
    with socket.create_connection(("127.0.0.1", ports["raw"]), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert read_all(s, 3) == b""

    # An HTTP/2 connection (prior knowledge): its stream is a new HTTP stream, the content rules ran in HTTP mode.
    if shutil.which("curl") is not None:
        url = f"http://127.0.0.1:{ports['switch']}/"
        done = subprocess.run(["curl", "-sS", "--max-time", "10", "--http2-prior-knowledge", url],
                              capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "http switch"


def test_check_refuses_what_haproxy_refuses(write, tmp_path: Path) -> None:
    write("bad.cfg", """
        frontend f
           mode http
           bind 127.0.0.1:1 proto none
           default_backend b
        frontend g
           mode tcp
           bind 127.0.0.1:2 proto h2
           default_backend b
        backend b
           mode http
           tcp-request content switch-mode http proto h3
           tcp-request content switch-mode http
        """)
    done = subprocess.run([*LUAPROXY, "-c", "-f", "bad.cfg"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    for expected in ("bad.cfg:3] : MUX protocol 'none' is not usable in mode http",
                     "bad.cfg:7] : MUX protocol 'h2' is not usable in mode tcp",
                     "bad.cfg:11] : 'tcp-request content': 'switch-mode http' takes only 'proto h1|h2', got 'proto h3'",
                     "bad.cfg:11] : 'tcp-request switch-mode' not allowed because backend 'b' has no frontend"):
        assert expected in done.stderr, done.stderr
