"""``show stat``'s hrsp_* cells, luaproxy against haproxy 2.6: a server counts the status it sent (before any
http-response rule), frontends and backends the status the client got; a backend counts only the requests
the switching rules gave it, its own replies (deny, return) included."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.compat.harness import HAPROXY, Case, run_case
from tests.helpers import read_all, wait_until
from tests.supervisor.conftest import cli

CONFIG = """
    global
       stats socket ipv4@127.0.0.1:{port} level admin
    defaults
       mode http
       timeout connect 2s
       timeout client 5s
       timeout server 5s
    frontend f
       bind unix@f.sock
       http-request deny deny_status 403 if {{ path /fdeny }}
       http-response set-status 404 if {{ status 200 }}
       use_backend nowhere if {{ path /nowhere }}
       default_backend b
    backend b
       http-request deny deny_status 429 if {{ path /bdeny }}
       http-request return status 201 if {{ path /bret }}
       http-response set-status 302 if {{ status 200 }}
       server s1 127.0.0.1:{port2}
    backend nowhere
       server s2 127.0.0.1:1
    listen l
       bind unix@l.sock
       http-request deny deny_status 403 if {{ path /fdeny }}
       http-response set-status 500 if {{ status 200 }}
       server s3 127.0.0.1:{port2}
    listen origin
       bind 127.0.0.1:{port2}
       http-request return status 200 content-type text/plain string ok
"""
REQUESTS = {"f.sock": ["/", "/fdeny", "/bdeny", "/bret", "/nowhere"], "l.sock": ["/", "/fdeny"]}


def status_cells(port: int, work: Path) -> bytes:
    """Every row's pxname,svname,hrsp_1xx..hrsp_other once each request got its answer."""
    for name, paths in REQUESTS.items():
        for path in paths:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(5)
                sock.connect(str(work / name))
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
                assert read_all(sock, 5).startswith(b"HTTP/1.1 ")

    def rows() -> list[str]:
        lines = cli(port, "show stat\n").splitlines()[1:]
        return [",".join(f[:2] + f[39:45]) for line in lines if line and (f := line.split(","))]

    def counted(row: str) -> int:
        return sum(int(cell) for cell in row.split(",")[2:])

    total = sum(map(len, REQUESTS.values()))  # luaproxy's workers report their counters every so often
    wait_until(lambda: sum(counted(r) for r in rows() if r.startswith(("f,FRONTEND", "l,FRONTEND"))) == total, 5)
    return "\n".join(rows()).encode()


@pytest.mark.parametrize("program", ["luaproxy", "haproxy"])
def test_same_as_haproxy(program, tmp_path, echo_server):
    if program == "haproxy" and HAPROXY is None:
        pytest.skip("Debian's haproxy is not installed")
    case = Case("status_counters", CONFIG, lambda port: status_cells(port, tmp_path / program))
    seen = run_case(case, program, tmp_path, echo_server).decode()
    assert seen.splitlines() == [
        "f,FRONTEND,0,1,1,2,1,0",  # 302 (the server's 200 after the backend's rule), 403, 429, 201, 503
        "b,s1,0,1,0,0,0,0",  # the 200 it sent
        "b,BACKEND,0,1,1,1,0,0",  # 302, 429, 201: not the frontend's deny
        "nowhere,s2,0,0,0,0,0,0",
        "nowhere,BACKEND,0,0,0,0,1,0",
        "l,FRONTEND,0,0,0,1,1,0",  # 500 (the server's 200 after the rule), 403
        "l,s3,0,1,0,0,0,0",
        "l,BACKEND,0,0,0,0,1,0",  # a listen's backend part sees what passed its http-request rules
        "origin,FRONTEND,0,2,0,0,0,0",
        "origin,BACKEND,0,0,0,0,0,0",
    ], seen
