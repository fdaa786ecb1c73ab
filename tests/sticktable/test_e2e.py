"""Stick tables in a running luaproxy with two workers: tracking, the management socket, stickiness,
connection rejects, and tables that outlive a worker's death and a reload.

Expected management texts follow Debian's haproxy 2.6 answers to the same commands.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import EchoServer, HttpBackend, Process, free_port, port_listening, wait_until
from tests.supervisor.conftest import cli

CONFIG = """
    global
        nbproc 2
        stats socket {d}/admin.sock level admin
    defaults
        timeout client 5s
        timeout server 5s
        timeout connect 5s
    frontend web
        mode http
        bind 127.0.0.1:{http}
        stick-table type ip size 100 expire 60s store http_req_cnt,http_req_rate(10s),conn_cur,gpc0,http_err_cnt
        http-request track-sc0 src
        http-request sc-inc-gpc0(0) if {{ path /inc }}
        http-request deny if {{ path /deny }}
        http-request return status 200 content-type text/plain lf-string "{show}" if {{ path /show }}
        default_backend app
    backend app
        mode http
        balance roundrobin
        stick-table type string len 32 size 100
        stick on req.hdr(x-user)
        server a 127.0.0.1:{b1} id 11
        server b 127.0.0.1:{b2} id 22
    frontend tcpfe
        mode tcp
        bind 127.0.0.1:{tcp}
        stick-table type ip size 100 expire 60s store conn_rate(10s),conn_cur,conn_cnt
        tcp-request connection track-sc1 src
        tcp-request connection reject if {{ src_conn_rate gt 3 }}
        default_backend echo
    backend echo
        mode tcp
        server e 127.0.0.1:{echo}
"""


SHOW = "cnt=%[sc0_http_req_cnt] gpc0=%[sc0_get_gpc0] err=%[sc0_http_err_cnt]"


class Setup:
    def __init__(self, tmp: Path) -> None:
        self.backends = [HttpBackend("a"), HttpBackend("b")]
        self.echo = EchoServer()
        self.http, self.tcp = free_port(), free_port()
        self.sock = str(tmp / "admin.sock")
        (tmp / "st.cfg").write_text(textwrap.dedent(CONFIG.format(
            d=tmp, http=self.http, tcp=self.tcp, b1=self.backends[0].port, b2=self.backends[1].port,
            echo=self.echo.port, show=SHOW)))
        self.proc = Process(["-f", "st.cfg"], tmp)

    def start(self) -> None:
        self.proc.wait_workers(2)
        assert wait_until(lambda: port_listening(self.http) and port_listening(self.tcp)), self.proc.stderr()
        assert wait_until(lambda: os.path.exists(self.sock))

    def get(self, path: str, headers: str = "") -> tuple[int, str]:
        with socket.create_connection(("127.0.0.1", self.http), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body.decode()

    def stop(self) -> None:
        self.proc.stop()
        for backend in self.backends:
            backend.close()
        self.echo.close()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    s = Setup(tmp_path)
    try:
        s.start()
        yield s
    finally:
        s.stop()


def show(setup: Setup, command: str) -> str:
    return re.sub(r"0x[0-9a-f]+:", "0x:", re.sub(r"exp=\d+", "exp=E", cli(setup.sock, command + "\n")))


def test_tracking_counts_across_workers_and_the_cli_shows_it(setup: Setup) -> None:
    for n in range(1, 7):
        assert setup.get("/show") == (200, f"cnt={n} gpc0=0 err=0")
    assert setup.get("/inc")[0] == 200
    assert setup.get("/deny")[0] == 403
    assert setup.get("/show") == (200, "cnt=9 gpc0=1 err=1")
    assert show(setup, "show table web") == (
        "# table: web, type: ip, size:100, used:1\n"
        "0x: key=127.0.0.1 use=0 exp=E gpc0=1 conn_cur=0 http_req_cnt=9 http_req_rate(10000)=9 http_err_cnt=1\n\n")
    assert cli(setup.sock, "show table\n") == (
        "# table: tcpfe, type: ip, size:100, used:0\n# table: app, type: string, size:100, used:0\n"
        "# table: web, type: ip, size:100, used:1\n\n")


def test_set_show_and_clear_table(setup: Setup) -> None:
    assert cli(setup.sock, "set table web key 10.9.9.9 data.gpc0 5 data.http_req_cnt 7\n") == "\n"
    assert show(setup, "show table web key 10.9.9.9") == (
        "# table: web, type: ip, size:100, used:1\n"
        "0x: key=10.9.9.9 use=0 exp=E gpc0=5 conn_cur=0 http_req_cnt=7 http_req_rate(10000)=0 http_err_cnt=0\n\n")
    assert show(setup, "show table web data.gpc0 gt 5") == "# table: web, type: ip, size:100, used:1\n\n"
    assert cli(setup.sock, "show table web data.nope gt 5\n") == "Filter entry #1: Unknown data type\n\n"
    assert cli(setup.sock, "set table web key 10.9.9.9 data.gpc0 x\n") == "Require a valid integer value to store\n\n"
    assert cli(setup.sock, "set table nope key 1 data.gpc0 1\n") == "No such table\n\n"
    assert cli(setup.sock, "clear table web key 10.9.9.9\n") == "\n"
    assert cli(setup.sock, "show table web key 10.9.9.9\n") == "\n"
    # what the CLI wrote, the workers read
    cli(setup.sock, "set table web key 127.0.0.1 data.gpc0 41\n")
    assert setup.get("/inc")[0] == 200
    assert setup.get("/show")[1].endswith("gpc0=42 err=0")


def test_stick_on_keeps_a_user_on_one_server(setup: Setup) -> None:
    servers = {json.loads(setup.get("/x", f"X-User: u{n}\r\n")[1])["server"] for n in range(4)}
    assert servers == {"a", "b"}, "without a stored entry, round robin spreads the users"
    for user in ("alice", "bob"):
        first = json.loads(setup.get("/", f"X-User: {user}\r\n")[1])["server"]
        for _ in range(5):
            assert json.loads(setup.get("/", f"X-User: {user}\r\n")[1])["server"] == first
        expected_id = {"a": 11, "b": 22}[first]
        line = f"key={user} use=0 exp=0 server_id={expected_id} server_key={first}\n"
        assert line in cli(setup.sock, f"show table app key {user}\n")


def _tcp_echoes(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"ping")
        try:
            return sock.recv(10) == b"ping"
        except OSError:
            return False


def test_connection_rate_rejects_and_conn_cur_goes_back_down(setup: Setup) -> None:
    assert [_tcp_echoes(setup.tcp) for _ in range(5)] == [True, True, True, False, False]
    assert wait_until(lambda: "conn_cnt=5 conn_rate(10000)=5 conn_cur=0\n" in cli(setup.sock, "show table tcpfe\n"))


def test_tables_survive_a_worker_death_and_a_reload(setup: Setup) -> None:
    for _ in range(3):
        setup.get("/show")
    for pid in setup.proc.workers():
        os.kill(pid, signal.SIGKILL)
    setup.proc.wait_workers(2)
    assert wait_until(lambda: setup.get("/show")[1].startswith("cnt="), 10)
    assert setup.get("/show")[1] == "cnt=5 gpc0=0 err=0"
    old = set(setup.proc.workers())
    setup.proc.signal(signal.SIGUSR2)
    assert wait_until(lambda: len(set(setup.proc.workers()) - old) >= 2, 15), setup.proc.stderr()
    assert wait_until(lambda: not (set(setup.proc.workers()) & old), 15)
    assert setup.get("/show") == (200, "cnt=6 gpc0=0 err=0")
    assert "Reload kept the stick tables: web, app, tcpfe" in setup.proc.stderr()


def test_a_killed_worker_gives_back_its_conn_cur(setup: Setup) -> None:
    """Connections held by a worker killed with SIGKILL: the master gives its column back, so conn_cur and the
    entry's reference count return to 0 (before, they stayed up for good and the entry never expired)."""
    held = [socket.create_connection(("127.0.0.1", setup.tcp), timeout=5) for _ in range(3)]
    try:
        for sock in held:
            sock.sendall(b"ping")
            assert sock.recv(10) == b"ping"
        assert "use=3 exp=E conn_cnt=3 conn_rate(10000)=3 conn_cur=3" in show(setup, "show table tcpfe")
        for pid in setup.proc.workers():
            os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: "use=0 exp=E conn_cnt=3 conn_rate(10000)=3 conn_cur=0" in
                          show(setup, "show table tcpfe"), 5), show(setup, "show table tcpfe")
        assert "released 1 entries tracked by worker" in setup.proc.stderr()
    finally:
        for sock in held:
            sock.close()
