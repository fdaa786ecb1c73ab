"""Stick tables shared over HAProxy's peers protocol, with real processes on 127.0.0.1.

Two luaproxy nodes in one peers section see each other's tracked entries; a
luaproxy node and Debian's haproxy 2.6 exchange entries both ways.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Process, free_ports, make_certificate, port_listening, wait_until
from tests.supervisor.conftest import cli

HAPROXY = "/usr/sbin/haproxy"

NODE = """
    global
        stats socket {d}/{name}.sock level admin
    defaults
        timeout client 5s
        timeout server 5s
        timeout connect 5s
    peers mesh
{peer_lines}
    backend st
        stick-table type string len 32 size 100 expire 60s store gpc0,http_req_cnt,http_req_rate(10s) peers mesh
    frontend web
        mode http
        bind 127.0.0.1:{http}
        http-request track-sc0 path table st
        http-request sc-inc-gpc0(0)
        http-request return status 200 content-type text/plain string ok
"""


ARRAY_NODE = """
    global
        stats socket {d}/{name}.sock level admin
    defaults
        mode http
        timeout client 5s
        timeout server 5s
        timeout connect 5s
    peers mesh
{peer_lines}
    backend st
        stick-table type string len 32 size 100 expire 60s store gpc(3),gpc_rate(2,10s),gpt(2) peers mesh
    backend app
        stick on path table st
        server s1 127.0.0.1:{answer}
    frontend answer
        bind 127.0.0.1:{answer}
        http-request return status 200 content-type text/plain string ok
    frontend web
        bind 127.0.0.1:{http}
        http-request track-sc0 path table st
        http-request sc-inc-gpc(1,0)
        http-request sc-set-gpt(1,0) 42
        default_backend app
"""
"""Arrays (gpc, gpc_rate, gpt) and server_key, which ``stick on`` stores, sent as a dictionary entry."""


class Node:
    def __init__(self, tmp: Path, name: str, peers: dict[str, int], http: int, haproxy: bool = False,
                 tls: str = "", template: str = NODE) -> None:
        self.name, self.http = name, http
        self.sock = str(tmp / f"{name}.sock")
        if tls:
            lines = "\n".join([f"        default-server ssl crt {tls} verify none",
                               f"        bind 127.0.0.1:{peers[name]} ssl crt {tls}",
                               *(f"        server {n}" + ("" if n == name else f" 127.0.0.1:{p}")
                                 for n, p in peers.items())])
        else:
            lines = "\n".join(f"        peer {n} 127.0.0.1:{p}" for n, p in peers.items())
        (tmp / f"{name}.cfg").write_text(textwrap.dedent(template).format(
            d=tmp, name=name, peer_lines=lines, http=http, answer=free_ports(1)[0]))
        program = [HAPROXY, "-db"] if haproxy else None
        args = ["-f", f"{name}.cfg", "-L", name]
        self.proc = Process(args, tmp, program=program) if program else Process(args, tmp)

    def ready(self) -> None:
        assert wait_until(lambda: port_listening(self.http) and os.path.exists(self.sock), 15), self.proc.stderr()

    def get(self, path: str) -> None:
        with socket.create_connection(("127.0.0.1", self.http), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
            while sock.recv(65536):
                pass

    def table(self) -> str:
        return cli(self.sock, "show table st\n")


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[Node]]:
    made: list[Node] = []
    yield made
    for node in made:
        node.proc.stop()


def _mesh(tmp: Path, names: list[str], haproxy: set[str] = frozenset(),  # type: ignore[assignment]
          tls: str = "", template: str = NODE) -> list[Node]:
    ports = free_ports(2 * len(names))
    peers = dict(zip(names, ports[: len(names)], strict=True))
    return [Node(tmp, n, peers, ports[len(names) + i], n in haproxy, tls, template) for i, n in enumerate(names)]


def _shows(node: Node, key: str, text: str, timeout: float) -> bool:
    def seen() -> bool:
        lines = [line for line in node.table().splitlines() if f"key={key} " in line]
        return bool(lines) and text in lines[0]
    return wait_until(seen, timeout)


def test_two_luaproxy_nodes_share_a_tracked_entry_within_a_second(tmp_path: Path, nodes: list[Node]) -> None:
    nodes += _mesh(tmp_path, ["a", "b"])
    for node in nodes:
        node.ready()
    a, b = nodes
    time.sleep(0.5)  # both listening: their sessions are up
    a.get("/from-a")
    a.get("/from-a")
    assert _shows(b, "/from-a", "gpc0=2 http_req_cnt=2", 1.0), (b.table(), a.table(), b.proc.stderr())
    b.get("/from-b")
    assert _shows(a, "/from-b", "gpc0=1 http_req_cnt=1", 1.0), (a.table(), a.proc.stderr())
    a.get("/from-b")
    assert _shows(b, "/from-b", "gpc0=2 http_req_cnt=2", 1.0), b.table()


@pytest.mark.skipif(not shutil.which(HAPROXY), reason="haproxy 2.6 not installed")
def test_luaproxy_and_haproxy_exchange_entries_both_ways(tmp_path: Path, nodes: list[Node]) -> None:
    nodes += _mesh(tmp_path, ["lua", "hap"], haproxy={"hap"})
    for node in nodes:
        node.ready()
    lua, hap = nodes
    time.sleep(0.5)
    lua.get("/from-lua")
    assert _shows(hap, "/from-lua", "gpc0=1 http_req_cnt=1", 2.0), (hap.table(), lua.proc.stderr())
    hap.get("/from-hap")
    hap.get("/from-hap")
    assert _shows(lua, "/from-hap", "gpc0=2 http_req_cnt=2", 2.0), (lua.table(), lua.proc.stderr())
    assert "http_req_rate(10000)=2" in next(x for x in lua.table().splitlines() if "/from-hap" in x)


@pytest.mark.skipif(not shutil.which(HAPROXY), reason="haproxy 2.6 not installed")
def test_arrays_and_server_keys_go_both_ways_with_haproxy(tmp_path: Path, nodes: list[Node]) -> None:
    """gpc(3), gpc_rate(2,10s), gpt(2) and the server_key of ``stick on`` reach haproxy 2.6 and come back."""
    nodes += _mesh(tmp_path, ["lua", "hap"], haproxy={"hap"}, template=ARRAY_NODE)
    for node in nodes:
        node.ready()
    lua, hap = nodes
    time.sleep(0.5)
    values = "server_id=1 server_key=s1 gpt0=0 gpt1=42 gpc0=0 gpc1={n} gpc2=0 gpc0_rate(10000)=0 gpc1_rate(10000)={n}"
    lua.get("/from-lua")
    assert _shows(hap, "/from-lua", values.format(n=1), 2.0), (hap.table(), lua.proc.stderr())
    for _ in range(2):
        hap.get("/from-hap")
    assert _shows(lua, "/from-hap", values.format(n=2), 2.0), (lua.table(), lua.proc.stderr())
    for _ in range(3):
        hap.get("/later")  # the same server key again: haproxy sends only its dictionary number
    assert _shows(lua, "/later", values.format(n=3), 2.0), (lua.table(), lua.proc.stderr())
    wanted = ("TX dictionary cache:\n            0 -> s1\n", "RX dictionary cache:\n            0 -> s1    1 -> -")
    assert wait_until(lambda: all(w in cli(lua.sock, "show peers dict mesh\n") for w in wanted), 2), \
        cli(lua.sock, "show peers dict mesh\n")  # the agent publishes a few times a second


@pytest.mark.skipif(not shutil.which(HAPROXY), reason="haproxy 2.6 not installed")
def test_two_luaproxy_and_one_haproxy_node_see_every_track_within_a_second(tmp_path: Path,
                                                                           nodes: list[Node]) -> None:
    nodes += _mesh(tmp_path, ["a", "b", "hap"], haproxy={"hap"})
    for node in nodes:
        node.ready()
    for node in nodes:  # the second is measured from tracks, not from how fast a busy machine connects
        assert wait_until(lambda n=node: cli(n.sock, "show peers\n").count("state=EST") >= 2, 10), \
            (node.name, cli(node.sock, "show peers\n"))
    for source in nodes:
        source.get(f"/from-{source.name}")
        for other in nodes:
            if other is not source:
                assert _shows(other, f"/from-{source.name}", "gpc0=1", 1.0), (other.name, other.table())


def test_a_reload_keeps_the_table_and_the_sync(tmp_path: Path, nodes: list[Node]) -> None:
    nodes += _mesh(tmp_path, ["a", "b"])
    for node in nodes:
        node.ready()
    a, b = nodes
    time.sleep(0.5)
    a.get("/before")
    assert _shows(b, "/before", "gpc0=1", 1.0), b.table()
    a.proc.signal(signal.SIGUSR2)
    assert wait_until(lambda: "Reload kept the stick tables: st" in a.proc.stderr(), 10), a.proc.stderr()
    assert "key=/before " in a.table()
    b.get("/after")
    assert _shows(a, "/after", "gpc0=1", 3.0), (a.table(), a.proc.stderr())
    a.get("/after")
    assert _shows(b, "/after", "gpc0=2", 3.0), b.table()


@pytest.mark.skipif(not shutil.which(HAPROXY), reason="haproxy 2.6 not installed")
def test_peers_over_tls_with_haproxy(tmp_path: Path, nodes: list[Node]) -> None:
    cert, key = make_certificate(tmp_path)
    pem = tmp_path / "peer.pem"
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    nodes += _mesh(tmp_path, ["lua", "hap"], haproxy={"hap"}, tls=str(pem))
    for node in nodes:
        node.ready()
    lua, hap = nodes
    time.sleep(0.5)
    lua.get("/tls-lua")
    assert _shows(hap, "/tls-lua", "gpc0=1", 2.0), (hap.table(), lua.proc.stderr())
    hap.get("/tls-hap")
    assert _shows(lua, "/tls-hap", "gpc0=1", 2.0), (lua.table(), lua.proc.stderr())


CONFIG_ERRORS = """
    peers p
        bind 127.0.0.1:1 ssl
        server A
        peer B 127.0.0.1:bad
        peer B 127.0.0.1:2
        frob x
    backend st
        stick-table type string size 10 store gpc0 peers nope
"""


def test_config_errors_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad.cfg").write_text(textwrap.dedent(CONFIG_ERRORS))
    proc = Process(["-c", "-f", "bad.cfg", "-L", "A"], tmp_path)
    try:
        assert proc.wait(30) == 1
    finally:
        proc.stop()
    err = proc.stderr()
    assert "[bad.cfg:3] : 'bind ... ssl' needs a certificate." in err, err
    assert "[bad.cfg:5] : 'peer': invalid port 'bad'" in err
    assert "[bad.cfg:6] : peer 'B' is already declared" not in err  # the bad line 5 declared nothing
    assert "[bad.cfg:7] : unknown keyword 'frob' in 'peers' section 'p'." in err
    assert "[bad.cfg:9] : stick-table: unknown peers section 'nope'." in err


def test_show_peers_and_metrics_report_each_session(tmp_path: Path, nodes: list[Node]) -> None:
    """``show peers`` in haproxy 2.6's layout: the remote peer established, the local one inactive."""
    nodes += _mesh(tmp_path, ["a", "b"])
    for node in nodes:
        node.ready()
    a, b = nodes
    a.get("/seen")
    assert _shows(b, "/seen", "gpc0=1", 2.0), b.table()

    def established() -> bool:
        text = cli(a.sock, "show peers\n")
        return "id=b(remote,active)" in text and "last_status=ESTA" in text and "state=EST" in text
    assert wait_until(established, 3), cli(a.sock, "show peers\n")
    text = cli(a.sock, "show peers mesh\n")
    assert text.startswith("\n0x") and " id=mesh " in text
    assert "id=a(local,inactive)" in text and "last_hdshk=<NEVER>" in text
    assert "table:" in text and "id=st update=" in text and "last_pushed=" in text
    assert 'Dictionary cache not dumped (use "show peers dict")' in text
    assert "TX dictionary cache:" in cli(a.sock, "show peers dict mesh\n")
    assert cli(a.sock, "show peers nope\n").startswith("No such peers")


def _new_conn(node: Node, peer: str) -> int:
    match = re.search(rf"id={peer}\(remote,\w+\).*?new_conn=(\d+)", cli(node.sock, "show peers\n"), re.DOTALL)
    return int(match.group(1)) if match else -1


def test_peer_counters_go_on_after_the_agent_restarts(tmp_path: Path, nodes: list[Node]) -> None:
    """A peers agent killed and started again goes on from its counters instead of starting from 0."""
    nodes += _mesh(tmp_path, ["a", "b"])
    for node in nodes:
        node.ready()
    a, b = nodes
    a.get("/first")
    assert _shows(b, "/first", "gpc0=1", 2.0), b.table()
    assert wait_until(lambda: _new_conn(a, "b") >= 1, 3), cli(a.sock, "show peers\n")
    time.sleep(0.5)  # a connection collision (both peers dialling at once) may count a second one
    before = _new_conn(a, "b")
    agent = next(pid for pid in a.proc.workers() if b"peers mesh" in Path(f"/proc/{pid}/cmdline").read_bytes())
    os.kill(agent, signal.SIGKILL)
    assert wait_until(lambda: f"peers agent 'mesh' (pid {agent}) exited" in a.proc.stderr(), 5), a.proc.stderr()
    assert wait_until(lambda: _new_conn(a, "b") == before + 1, 10), cli(a.sock, "show peers\n")
    a.get("/second")
    assert _shows(b, "/second", "gpc0=1", 3.0), b.table()
