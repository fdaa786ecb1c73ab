"""Map and ACL changes reach every worker, and survive a respawn, a reload and (with map-persist) a restart."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers import Process, alive, wait_until
from tests.supervisor.conftest import cli, http_get, until_all

LUA = """
core.register_action("lua_set", {"http-req"}, function(txn)
  core.set_map("m.map", txn.sf:req_hdr("x-key"), txn.sf:req_hdr("x-value"))
end)
core.register_action("lua_del", {"http-req"}, function(txn)
  core.del_map("m.map", txn.sf:req_hdr("x-key"))
end)
"""


def config(port: int, directory: Path, extra: str = "") -> str:
    return f"""
        global
           nbproc 3
           lua-load set.lua
           stats socket {directory}/admin.sock level admin
           {extra}
        defaults
           mode http
           timeout client 5s
        frontend fe
           bind 127.0.0.1:{port}
           http-request lua.lua_set if {{ path /lua-set }}
           http-request lua.lua_del if {{ path /lua-del }}
           http-request return status 200 content-type text/plain lf-string "%[proc] %[path,map(m.map,none)]"
        """


def start(write: Callable[[str, str], Path], luaproxy: Callable[..., Process], port: int, tmp_path: Path,
          extra: str = "") -> Process:
    write("set.lua", LUA)
    write("m.map", "/a one\n/b two\n")
    write("p.cfg", config(port, tmp_path, extra))
    proc = luaproxy("-f", "p.cfg", wait_port=port, workers=3)
    assert wait_until(lambda: (tmp_path / "admin.sock").exists(), 10)
    return proc


def lua_request(port: int, path: str, key: str, value: str = "") -> None:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nX-Key: {key}\r\nX-Value: {value}\r\n"
                     "Connection: close\r\n\r\n".encode())
        while sock.recv(65536):
            pass


def test_cli_changes_reach_three_workers(write, luaproxy, port, tmp_path):
    start(write, luaproxy, port, tmp_path)
    admin = str(tmp_path / "admin.sock")
    assert set(until_all(port, "/a", 3, "one").values()) == {"one"}
    assert cli(admin, "set map m.map /a uno;add map m.map /c three\n") == "\n\n"
    assert until_all(port, "/a", 3, "uno") == {"1": "uno", "2": "uno", "3": "uno"}
    assert set(until_all(port, "/c", 3, "three").values()) == {"three"}


def test_lua_set_map_in_one_worker_reaches_the_others(write, luaproxy, port, tmp_path):
    start(write, luaproxy, port, tmp_path)
    lua_request(port, "/lua-set", "/lua", "from-lua")
    assert set(until_all(port, "/lua", 3, "from-lua").values()) == {"from-lua"}
    assert cli(str(tmp_path / "admin.sock"), "get map m.map /lua\n").endswith('value="from-lua", type="str"\n\n')
    lua_request(port, "/lua-del", "/a")
    assert set(until_all(port, "/a", 3, "none").values()) == {"none"}


def test_respawned_worker_starts_with_every_change(write, luaproxy, port, tmp_path):
    proc = start(write, luaproxy, port, tmp_path)
    assert cli(str(tmp_path / "admin.sock"), "set map m.map /a changed\n") == "\n"
    victims = proc.workers()
    killed = time.monotonic()
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: len(set(proc.workers()) - set(victims)) == 3, 5)
    assert time.monotonic() - killed < 2.0
    assert until_all(port, "/a", 3, "changed") == {"1": "changed", "2": "changed", "3": "changed"}


def test_reload_keeps_changes_unless_the_file_changed(write, luaproxy, port, tmp_path):
    proc = start(write, luaproxy, port, tmp_path)
    admin = str(tmp_path / "admin.sock")
    assert cli(admin, "set map m.map /a kept;add map m.map /z added\n") == "\n\n"
    old = set(proc.workers())
    proc.signal(signal.SIGUSR2)
    assert wait_until(lambda: not old & set(proc.workers()) and len(proc.workers()) == 3, 10), proc.stderr()
    assert set(until_all(port, "/a", 3, "kept").values()) == {"kept"}
    assert set(until_all(port, "/z", 3, "added").values()) == {"added"}
    assert "Reload kept the runtime changes of: m.map" in proc.stderr()
    (tmp_path / "m.map").write_text("/a from-file\n")
    old = set(proc.workers())
    proc.signal(signal.SIGHUP)
    assert wait_until(lambda: not old & set(proc.workers()) and len(proc.workers()) == 3, 10), proc.stderr()
    assert set(until_all(port, "/a", 3, "from-file").values()) == {"from-file"}
    assert set(until_all(port, "/z", 3, "none").values()) == {"none"}
    assert "changed on disk, the file wins for: m.map" in proc.stderr()


def test_unacknowledged_worker_is_named(write, luaproxy, port, tmp_path):
    # No watchdog: it would kill the stopped worker (5 s) as the acknowledgement times out.
    proc = start(write, luaproxy, port, tmp_path, extra="watchdog 0")
    stuck = proc.workers()[0]
    os.kill(stuck, signal.SIGSTOP)
    try:
        answer = cli(str(tmp_path / "admin.sock"), "set map m.map /a late\n", timeout=10)
    finally:
        os.kill(stuck, signal.SIGCONT)
    assert answer.startswith("Not acknowledged by worker ") and f"(pid {stuck})." in answer
    assert set(until_all(port, "/a", 3, "late").values()) == {"late"}


def test_map_persist_writes_the_file_atomically(write, luaproxy, port, tmp_path):
    proc = start(write, luaproxy, port, tmp_path, extra="map-persist on")
    admin = str(tmp_path / "admin.sock")
    assert cli(admin, "set map m.map /a durable;del map m.map /b;add map m.map /n new\n") == "\n\n\n"
    assert (tmp_path / "m.map").read_text() == "/a durable\n/n new\n"
    assert cli(admin, "prepare map m.map;add map @1 m.map /v one\n") == "New version created: 1\n\n\n"
    assert (tmp_path / "m.map").read_text() == "/a durable\n/n new\n"
    assert cli(admin, "commit map @1 m.map\n") == "\n"
    assert (tmp_path / "m.map").read_text() == "/v one\n"
    lua_request(port, "/lua-set", "/l", "lua")
    assert wait_until(lambda: (tmp_path / "m.map").read_text() == "/v one\n/l lua\n", 5)
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    workers = proc.workers()
    proc.stop()
    assert not any(alive(pid) for pid in workers)
    restarted = luaproxy("-f", "p.cfg", wait_port=port, workers=3)
    assert set(until_all(port, "/l", 3, "lua").values()) == {"lua"}
    assert http_get(port, "/a").split(" ", 1)[1] == "none"
    restarted.stop()
