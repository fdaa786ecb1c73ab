"""Management-socket floods, from each level: traffic is unharmed and the master's memory stays flat.

Before: a ``level user`` client pipelining ``show stat`` made every worker build
a snapshot per command (HTTP stopped for 10-15 s) and the master's output
buffer grew without bound when the client did not read.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.helpers import wait_until

from .kit import Probe, cpu_seconds, rss_kib

FLOOD_COMMANDS = 60000
FLOOD_SECONDS = 3.0

COMMANDS = {
    "user": "show stat;show info\n",
    "operator": "show stat;get map routes.map /a\n",
    "admin": "set map routes.map /a be2;show stat;add acl blocked.acl 10.0.0.1\n",
}


def start(write, luaproxy, port: int, directory) -> object:
    write("routes.map", "/a be1\n")
    write("blocked.acl", "192.0.2.1\n")
    write("flood.cfg", f"""
        global
           nbproc 2
           stats socket {directory}/user.sock level user
           stats socket {directory}/operator.sock level operator
           stats socket {directory}/admin.sock level admin
        defaults
           mode http
           timeout connect 1s
           timeout client 10s
           timeout server 10s
        frontend fe
           bind 127.0.0.1:{port}
           http-request deny if {{ src -f blocked.acl }}
           http-request set-var(txn.be) path,map(routes.map,none)
           http-request return status 200 content-type text/plain string ok
        backend be1
           server s1 127.0.0.1:1
        """)
    return luaproxy("-f", "flood.cfg", wait_port=port, workers=2)


def flood(path: str, line: str, read: bool, stop: threading.Event) -> None:
    """Pipeline the commands in interactive mode; read the answers or never read them."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(FLOOD_SECONDS + 2)
    sock.connect(path)
    payload = ("prompt\n" + line * (FLOOD_COMMANDS // line.count(";") // 2 + 1)).encode()

    def drain() -> None:
        while not stop.is_set():
            try:
                if not sock.recv(65536):
                    return
            except OSError:
                return

    reader = threading.Thread(target=drain, daemon=True) if read else None
    if reader is not None:
        reader.start()
    view = memoryview(payload)
    deadline = time.monotonic() + FLOOD_SECONDS
    while view and time.monotonic() < deadline and not stop.is_set():
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            sent = sock.send(view[:65536])
        except TimeoutError:
            break
        except OSError:
            break
        view = view[sent:]
    stop.wait(max(deadline - time.monotonic(), 0))
    sock.close()


@pytest.mark.parametrize(("level", "read"), [("user", False), ("user", True), ("operator", False),
                                             ("admin", False)])
def test_a_pipelined_flood_leaves_traffic_and_memory_alone(write, luaproxy, port, tmp_path, level, read):
    proc = start(write, luaproxy, port, tmp_path)
    workers = proc.workers()
    master_before = rss_kib(proc.pid)
    cpu_before = sum(cpu_seconds(w) for w in workers)
    stop = threading.Event()
    attacker = threading.Thread(target=flood, args=(str(tmp_path / f"{level}.sock"), COMMANDS[level], read, stop),
                                daemon=True)
    with Probe(port, interval=0.05, timeout=3) as probe:
        attacker.start()
        attacker.join(FLOOD_SECONDS + 5)
        master_during = rss_kib(proc.pid)
    stop.set()
    report = probe.report()
    worker_cpu = sum(cpu_seconds(w) for w in workers) - cpu_before
    assert report.success >= 0.98 and report.p99 < 0.5, report
    assert master_during - master_before < 40 * 1024, (master_before, master_during)
    # The probe alone costs some CPU; before the fix the flood cost each worker about 13 s.
    assert worker_cpu < 3.0, worker_cpu
    assert wait_until(lambda: proc.proc.poll() is None, 0.1)


def test_stats_maxconn_bounds_the_clients_served_at_once(write, luaproxy, port, tmp_path):
    """``stats maxconn 2``: a third client waits in the backlog (unanswered) until one of the two leaves."""
    write("m.cfg", f"""
        global
           stats socket {tmp_path}/admin.sock level admin
           stats maxconn 2
        defaults
           mode http
           timeout client 5s
        frontend fe
           bind 127.0.0.1:{port}
           http-request return status 200
        """)
    luaproxy("-f", "m.cfg", wait_port=port)
    path = str(tmp_path / "admin.sock")

    def prompt_client() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(2)
        sock.connect(path)
        sock.sendall(b"prompt\n")
        return sock

    def answered(sock: socket.socket) -> bool:
        seen = b""
        while b"admin" not in seen:
            chunk = sock.recv(4096)
            if not chunk:
                return False
            seen += chunk
        return True

    first, second = prompt_client(), prompt_client()
    for sock in (first, second):
        sock.sendall(b"show cli level\n")
        assert answered(sock)
    third = prompt_client()
    third.sendall(b"show cli level\n")
    third.settimeout(0.5)
    with pytest.raises(TimeoutError):
        third.recv(4096)
    first.close()
    third.settimeout(5)
    assert answered(third)
    second.close()
    third.close()
