"""The master's lifecycle: sd_notify, reloads (good and bad), soft stop, -sf hand-over, nothing left behind."""

from __future__ import annotations

import re
import signal
import socket
import threading
import time
from pathlib import Path

from tests.helpers import alive, port_listening, wait_until
from tests.supervisor.conftest import cli, http_get

LUA = """
core.register_action("slow", {"http-req"}, function(txn)
  core.msleep(1000)
end)
"""


def config(port: int, directory: Path, nbproc: int = 2) -> str:
    return f"""
        global
           nbproc {nbproc}
           lua-load slow.lua
           stats socket {directory}/admin.sock level admin
        defaults
           mode http
           timeout client 5s
        frontend fe
           bind 127.0.0.1:{port}
           http-request lua.slow if {{ path /slow }}
           http-request return status 200 content-type text/plain lf-string "%[proc] ok"
        """


def setup(write, port: int, tmp_path: Path, nbproc: int = 2) -> None:
    write("slow.lua", LUA)
    write("p.cfg", config(port, tmp_path, nbproc))


def test_sd_notify(write, luaproxy, port, tmp_path, notify_socket):
    setup(write, port, tmp_path)
    proc = luaproxy("-Ws", "-f", "p.cfg", wait_port=port, workers=2, env={"NOTIFY_SOCKET": notify_socket.path})
    messages = notify_socket.wait_for("READY=1")
    assert messages[0].split("\n")[:2] == ["READY=1", f"MAINPID={proc.pid}"]
    assert any(line.startswith("STATUS=") for line in messages[0].split("\n"))
    proc.signal(signal.SIGUSR2)
    messages = notify_socket.wait_for("RELOADING=1")
    reloading = next(m for m in messages if "RELOADING=1" in m)
    assert re.search(r"^MONOTONIC_USEC=\d+$", reloading, re.M)
    assert wait_until(lambda: sum("READY=1" in m for m in notify_socket.read()) >= 2, 10)
    proc.signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert "STOPPING=1" in notify_socket.wait_for("STOPPING=1")[-1]


def test_bad_config_on_reload_keeps_the_old_workers(write, luaproxy, port, tmp_path):
    setup(write, port, tmp_path)
    proc = luaproxy("-f", "p.cfg", wait_port=port, workers=2)
    workers = sorted(proc.workers())
    write("p.cfg", config(port, tmp_path) + "   bogus-keyword 1\n")
    proc.signal(signal.SIGUSR2)
    assert wait_until(lambda: "Reload failed" in proc.stderr(), 10)
    assert "bogus-keyword" in proc.stderr()
    assert sorted(proc.workers()) == workers
    assert http_get(port, "/").endswith(" ok")


def test_no_connection_refused_during_reloads(write, luaproxy, port, tmp_path):
    setup(write, port, tmp_path)
    proc = luaproxy("-f", "p.cfg", wait_port=port, workers=2)
    failures: list[str] = []
    done = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal done
        while not stop.is_set():
            try:
                if not http_get(port, "/", timeout=5).endswith(" ok"):
                    failures.append("bad answer")
            except OSError as exc:
                failures.append(repr(exc))
            done += 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(3):
            old = set(proc.workers())
            proc.signal(signal.SIGUSR2)
            assert wait_until(lambda old=old: not old & set(proc.workers()) and len(proc.workers()) == 2, 10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert failures == [] and done > 20


def test_soft_stop_finishes_in_flight_requests(write, luaproxy, port, tmp_path):
    setup(write, port, tmp_path, nbproc=1)
    proc = luaproxy("-f", "p.cfg", wait_port=port)
    answer: list[str] = []
    client = threading.Thread(target=lambda: answer.append(http_get(port, "/slow")))
    client.start()
    time.sleep(0.3)
    proc.signal(signal.SIGUSR1)
    assert wait_until(lambda: not port_listening(port) or proc.proc.poll() is not None, 5)
    client.join(10)
    assert answer == ["1 ok"]
    assert proc.wait(10) == 0


def test_sf_hands_over_without_refusing(write, luaproxy, port, tmp_path):
    setup(write, port, tmp_path, nbproc=1)
    first = luaproxy("-f", "p.cfg", wait_port=port)
    old_workers = first.workers()
    second = luaproxy("-f", "p.cfg", "-sf", str(first.pid))
    assert first.wait(10) == 0
    assert wait_until(lambda: not any(alive(pid) for pid in old_workers), 5)
    assert http_get(port, "/") == "1 ok" and second.proc.poll() is None


def test_master_cli_reload_and_nothing_left_behind(write, luaproxy, port, tmp_path):
    setup(write, port, tmp_path)
    proc = luaproxy("-f", "p.cfg", "-S", f"{tmp_path}/master.sock", wait_port=port, workers=2)
    assert wait_until(lambda: (tmp_path / "master.sock").exists(), 5)
    old = set(proc.workers())
    assert cli(str(tmp_path / "master.sock"), "reload\n") == ""
    assert wait_until(lambda: not old & set(proc.workers()) and len(proc.workers()) == 2, 10)
    assert "1 [failed: 0]" in cli(str(tmp_path / "master.sock"), "show proc\n")
    everyone = set(proc.workers()) | old | {proc.pid}
    proc.signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert wait_until(lambda: not any(alive(pid) for pid in everyone), 5)
    assert not (tmp_path / "admin.sock").exists() and not (tmp_path / "master.sock").exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
