"""Server state changed from Lua (Server:set_maint/set_weight/set_addr) reaches every worker, the management
socket's view and a respawned worker, through the master, as map changes do."""

from __future__ import annotations

import os
import signal
import socket

from tests.helpers import wait_until
from tests.supervisor.conftest import cli, until_all

LUA = """
core.register_action("admin", {"http-req"}, function(txn)
   local server = core.backends.b.servers.s1
   local what = txn.sf:req_hdr("x-op")
   if what == "maint" then server:set_maint()
   elseif what == "ready" then server:set_ready()
   elseif what == "weight" then server:set_weight("7")
   elseif what == "addr" then server:set_addr("127.0.0.9", 9999)
   end
end)
core.register_fetches("s1", function(txn)
   local s = core.backends.b.servers.s1
   return s:get_stats().status .. "," .. s:get_weight() .. "," .. s:get_addr()
end)
"""


def start(write, luaproxy, port, tmp_path):
    write("s.lua", LUA)
    write("s.cfg", f"""
        global
           nbproc 3
           lua-load s.lua
           stats socket {tmp_path}/admin.sock level admin
        defaults
           mode http
           timeout client 5s
        frontend fe
           bind 127.0.0.1:{port}
           http-request lua.admin if {{ path /admin }}
           http-request return status 200 content-type text/plain lf-string "%[proc] %[lua.s1]"
        backend b
           server s1 127.0.0.1:8080 weight 10
           server s2 127.0.0.1:8081
        """)
    proc = luaproxy("-f", "s.cfg", wait_port=port, workers=3)
    assert wait_until(lambda: (tmp_path / "admin.sock").exists(), 10)
    return proc


def admin(port: int, op: str) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET /admin HTTP/1.1\r\nHost: t\r\nX-Op: {op}\r\nConnection: close\r\n\r\n".encode())
        while sock.recv(65536):
            pass


def test_lua_server_changes_reach_every_worker_and_the_socket(write, luaproxy, port, tmp_path):
    proc = start(write, luaproxy, port, tmp_path)
    sock = str(tmp_path / "admin.sock")
    assert set(until_all(port, "/", 3, "no check,10,127.0.0.1:8080").values()) == {"no check,10,127.0.0.1:8080"}
    admin(port, "maint")
    admin(port, "weight")
    admin(port, "addr")
    expected = "MAINT,7,127.0.0.9:9999"
    assert set(until_all(port, "/", 3, expected).values()) == {expected}
    state = [line.split() for line in cli(sock, "show servers state b\n").splitlines()[2:] if line.strip()]
    s1 = next(fields for fields in state if fields[3] == "s1")
    assert (s1[4], s1[6], s1[7], s1[18]) == ("127.0.0.9", "1", "7", "9999")
    assert "Server b/s1 is going DOWN for maintenance" in proc.stderr()
    assert proc.stderr().count("Server b/s1 is going DOWN for maintenance") == 1
    victims = proc.workers()
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: len(set(proc.workers()) - set(victims)) == 3, 5)
    assert set(until_all(port, "/", 3, expected).values()) == {expected}
    admin(port, "ready")
    assert set(until_all(port, "/", 3, "no check,7,127.0.0.9:9999").values()) == {"no check,7,127.0.0.9:9999"}
