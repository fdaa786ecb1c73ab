"""The runtime API beyond maps: servers, frontends, sessions, typed and JSON output.

Expected texts were captured from Debian's haproxy 2.6 with the same commands.
One luaproxy with two workers and two real HTTP servers serves the module;
each change is checked in the traffic of both workers, then after a worker's
respawn and after a reload.
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

from tests.helpers import HttpBackend, Process, free_port, port_listening, read_all, wait_until
from tests.supervisor.conftest import cli

CONFIG = """
    global
        nbproc 2
        stats socket {d}/admin.sock level admin
        stats socket {d}/user.sock level user
    defaults
        mode http
        timeout client 5s
        timeout server 5s
        timeout connect 2s
    frontend web
        bind 127.0.0.1:{port}
        default_backend be
    backend be
        server s1 127.0.0.1:{a} weight 3
        server s2 127.0.0.1:{b}
    """


class Running:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.a, self.b = HttpBackend("A"), HttpBackend("B")
        (directory / "r.cfg").write_text(textwrap.dedent(CONFIG).lstrip("\n").format(
            d=directory, port=self.port, a=self.a.port, b=self.b.port))
        self.proc = Process(["-f", "r.cfg"], directory)
        assert wait_until(lambda: port_listening(self.port), 15), self.proc.stderr()
        self.proc.wait_workers(2)

    def cmd(self, text: str, sock: str = "admin") -> str:
        return cli(str(self.dir / f"{sock}.sock"), text + "\n")

    def servers_hit(self, count: int = 24) -> set[str]:
        """Which servers answer *count* new connections (both workers take some)."""
        seen = set()
        for _ in range(count):
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                body = read_all(sock).partition(b"\r\n\r\n")[2]
            seen.add(json.loads(body)["server"] if body.startswith(b"{") else "none")
        return seen

    def stop(self) -> None:
        self.proc.stop()
        self.a.close()
        self.b.close()


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = Running(tmp_path_factory.mktemp("runtime"))
    yield running
    running.stop()


@pytest.mark.parametrize(("command", "answer"), [
    ("get weight be/s1", "3 (initial 3)"),
    ("get weight be/nope", "No such server."),
    ("get weight nope/s1", "No such backend."),
    ("get weight be", "Require 'backend/server'."),
    ("set weight be/s1 300", "Absolute weight can only be between 0 and 256 inclusive."),
    ("set weight be/s1 x", "Empty weight string empty or preceded by garbage"),
    ("set server be/s1 state bogus", "'set server <srv> state' expects 'ready', 'drain' and 'maint'."),
    ("set server be/s1 addr bad", "Invalid addr 'bad' by 'stats socket command'"),
    ("set server be/s1", "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | "
                         "agent-send | check-addr | check-port | fqdn | health | ssl | state | weight"),
    ("set server be/zz state ready", "No such server."),
    ("disable server be/zz", "No such server."),
    ("disable server be", "Require 'backend/server'."),
    ("show servers conn zz", "Can't find backend."),
    ("show env NOPE", "Variable not found"),
    ("set maxconn frontend nope 100", "No such frontend."),
    ("set maxconn frontend web", "Integer value expected."),
    ("enable frontend web", "All sockets are already enabled."),
    ("disable frontend nope", "No such frontend."),
    ("disable frontend", "A frontend name is expected."),
    ("shutdown session 0x1234", "No such session (use 'show sess')."),
    ("shutdown session", "Session pointer expected (use 'show sess')."),
])
def test_answers_as_haproxy_26(rt: Running, command: str, answer: str) -> None:
    assert rt.cmd(command) == answer + "\n\n"


def test_levels(rt: Running) -> None:
    assert rt.cmd("disable server be/s1", "user") == "Permission denied\n\n"
    assert rt.cmd("show sess", "user") == "Permission denied\n\n"
    assert rt.cmd("get weight be/s2", "user") == "1 (initial 1)\n\n"


def test_server_state_reaches_every_worker_and_survives_respawn_and_reload(rt: Running) -> None:
    assert rt.servers_hit() == {"A", "B"}
    assert rt.cmd("set server be/s1 state maint") == "\n"
    assert rt.servers_hit() == {"B"}
    s1 = next(line for line in rt.cmd("show servers state be").splitlines() if " s1 " in line)
    assert s1.split()[4:9] == ["127.0.0.1", "0", "1", "3", "3"]  # haproxy 2.6: op state 0, forced maintenance 1
    victim = rt.proc.workers()[0]
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: victim not in rt.proc.workers() and len(rt.proc.workers()) == 2, 10)
    assert rt.servers_hit() == {"B"}
    rt.proc.signal(signal.SIGUSR2)
    assert wait_until(lambda: "Reload kept the runtime state of: be/s1" in rt.proc.stderr(), 15), rt.proc.stderr()
    assert wait_until(lambda: rt.proc.stderr().count("Loading success.") >= 2, 15)
    assert rt.servers_hit() == {"B"}
    assert rt.cmd("disable server be/s2") == "\n"
    assert rt.servers_hit(4) == {"none"}
    assert rt.cmd("enable server be/s1") == "\n"
    assert rt.cmd("set server be/s2 state ready") == "\n"
    assert rt.servers_hit() == {"A", "B"}
    log = rt.proc.stderr()
    assert "Server be/s1 is going DOWN for maintenance. 1 active and 0 backup servers left." in log
    assert "[ALERT]" in log and "backend 'be' has no server available!" in log
    assert "Server be/s1 is UP/READY (leaving forced maintenance)." in log


def test_weight_changes_and_survives_reload(rt: Running) -> None:
    assert rt.cmd("set weight be/s1 0") == "\n"
    assert rt.cmd("get weight be/s1") == "0 (initial 3)\n\n"
    assert rt.servers_hit() == {"B"}
    reloads = rt.proc.stderr().count("Loading success.")
    rt.proc.signal(signal.SIGUSR2)
    assert wait_until(lambda: rt.proc.stderr().count("Loading success.") > reloads, 15)
    assert rt.cmd("get weight be/s1") == "0 (initial 3)\n\n"
    assert rt.servers_hit() == {"B"}
    assert rt.cmd("set weight be/s1 50%") == "\n"
    assert rt.cmd("get weight be/s1") == "1 (initial 3)\n\n"
    assert rt.cmd("set server be/s1 weight 3") == "\n"
    assert rt.servers_hit() == {"A", "B"}


def test_set_server_addr(rt: Running) -> None:
    other = HttpBackend("C")
    try:
        assert rt.cmd(f"set server be/s2 addr 127.0.0.1 port {other.port}") == (
            f"no need to change the addr, port changed from '{rt.b.port}' to '{other.port}' "
            "by 'stats socket command'\n\n")
        assert rt.servers_hit() == {"A", "C"}
        assert f"be/s2 3/2 127.0.0.1 {other.port} - 5000 " in rt.cmd("show servers conn be")
        assert rt.cmd("set server be/s2 addr 127.0.0.1 port abc") == (
            "no need to change the addr, problem converting port 'abc' to an int by "
            "'stats socket command'\n\n")
        rt.cmd(f"set server be/s2 addr 127.0.0.1 port {rt.b.port}")
        assert rt.servers_hit() == {"A", "B"}
    finally:
        other.close()


def _frontend_status(rt: Running) -> str:
    header, *rows = rt.cmd("show stat").splitlines()
    column = header[2:].split(",").index("status")
    return next(row for row in rows if row.startswith("web,FRONTEND,")).split(",")[column]


def test_disable_and_enable_frontend(rt: Running) -> None:
    assert _frontend_status(rt) == "OPEN"
    assert rt.cmd("disable frontend web") == "\n"
    assert rt.cmd("disable frontend web") == "All sockets are already disabled.\n\n"
    assert _frontend_status(rt) == "PAUSED"  # as haproxy 2.6.12 shows it
    with socket.create_connection(("127.0.0.1", rt.port), timeout=5) as waiting:
        waiting.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        waiting.settimeout(0.5)
        with pytest.raises(TimeoutError):
            waiting.recv(1)
        assert rt.cmd("enable frontend web") == "\n"
        assert read_all(waiting).startswith(b"HTTP/1.1 200")
    assert _frontend_status(rt) == "OPEN"
    assert "Paused frontend web." in rt.proc.stderr() and "Resumed frontend web." in rt.proc.stderr()
    assert rt.cmd("set maxconn frontend web 100") == "\n"
    frontend = next(line for line in rt.cmd("show stat").splitlines() if line.startswith("web,FRONTEND,"))
    assert frontend.split(",")[6] == "100"


def test_show_and_shutdown_session(rt: Running) -> None:
    with socket.create_connection(("127.0.0.1", rt.port), timeout=5) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < int(
                re.search(rb"(?i)content-length: (\d+)", answer).group(1)):
            answer += client.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        port = client.getsockname()[1]
        assert wait_until(lambda: f"src=127.0.0.1:{port} fe=web" in rt.cmd("show sess"), 5)
        line = next(x for x in rt.cmd("show sess").splitlines() if f"src=127.0.0.1:{port} " in x)
        assert line.startswith("0x") and " proto=tcpv4 " in line and " age=" in line
        assert rt.cmd(f"shutdown session {line.split(':')[0]}") == "\n"
        assert read_all(client, 5) == b""
    assert wait_until(lambda: f"src=127.0.0.1:{port} " not in rt.cmd("show sess"), 5)


def test_process_facts(rt: Running) -> None:
    assert rt.cmd("show version").strip()
    assert rt.cmd("show env PATH") == f"PATH={os.environ['PATH']}\n\n"
    assert rt.cmd("show errors").startswith("Total events captured on [")
    with socket.create_connection(("127.0.0.1", rt.port), timeout=5) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
        assert read_all(client).startswith(b"HTTP/1.1 400")
        src = f"127.0.0.1:{client.getsockname()[1]}"
    shown = rt.cmd("show errors web")
    assert re.match(r"Total events captured on \[\d\d/\w{3}/\d{4}:[\d:.]+\] : 1\n \n\[[^]]+\] frontend web \(#2\): "
                    r"invalid request\n", shown), shown
    assert shown.split("\n", 3)[3] == (
        f"  backend <NONE> (#-1), server <NONE> (#-1), event #0, src {src}\n"
        "  buffer starts at 0 (including 0 out), 16342 free,\n  len 42 :\n  \n"
        "  00000  GET / HTTP/1.1\\r\\n\n  00016  Host: x\\r\\n\n  00025  Bad Header: y\\r\\n\n  00040  \\r\\n\n\n")
    activity = rt.cmd("show activity")
    assert activity.startswith("thread_id: 1 (1..2)\ndate_now: ")
    loops = re.search(r"^loops: (\d+) \[ (\d+) (\d+) \]$", activity, re.M)
    assert loops and int(loops[1]) == int(loops[2]) + int(loops[3]) > 0, activity
    assert re.search(r"^accepted: \d+ \[ \d+ \d+ \]$", activity, re.M), activity


def test_typed_and_json_output(rt: Running) -> None:
    typed = rt.cmd("show stat typed").splitlines()
    assert "F.2.0.0.pxname.1:KNS:str:web" in typed and "S.3.1.1.svname.1:KNS:str:s1" in typed
    assert "F.2.0.4.scur.1:MGP:u32:0" in typed and any(x.startswith("S.3.2.18.weight.1:MaP:u32:") for x in typed)
    rows = json.loads(rt.cmd("show stat json"))
    assert [row[1]["value"]["value"] for row in rows] == ["FRONTEND", "s1", "s2", "BACKEND"]
    assert rows[0][0] == {"objType": "Frontend", "proxyId": 2, "id": 0, "field": {"pos": 0, "name": "pxname"},
                          "processNum": 1, "tags": {"origin": "Key", "nature": "Name", "scope": "Service"},
                          "value": {"type": "str", "value": "web"}}
    info = rt.cmd("show info typed").splitlines()
    assert info[0] == "0.Name.1:POS:str:luaproxy" and "4.Nbproc.1:CGS:u32:2" in info
    fields = {f["field"]["name"]: f["value"] for f in json.loads(rt.cmd("show info json"))}
    assert fields["Nbproc"] == {"type": "u32", "value": 2}
