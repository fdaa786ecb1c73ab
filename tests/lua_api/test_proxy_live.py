"""Proxy.servers follows ``add server``/``del server``; Proxy:shut_bcksess() cuts the backup servers' sessions.

Two workers: every answer is asked of both (new connections until each pid has answered).
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers import EchoServer, connection_cut, echo_sessions, free_port, http_exchange, wait_until
from tests.supervisor.conftest import cli

LUA = """
core.register_service("list", "http", function(applet)
   local names = {}
   for name, server in pairs(core.backends.be.servers) do
      names[#names + 1] = name .. "=" .. server.name .. "/" .. server.puid  -- a method would pin it (no del)
   end
   table.sort(names)
   local added = core.backends.be.servers.added
   local body = table.concat(names, ",") .. ";" .. (added and added.name or "-") .. ";" .. core.thread
      .. ";" .. tostring(core.backends.be.servers.e == core.backends.be.servers.e)
   applet:set_status(200)
   applet:add_header("x-pid", tostring(core.get_info().Pid))
   applet:add_header("content-length", tostring(#body))
   applet:start_response()
   applet:send(body)
end)
core.register_service("cut", "http", function(applet)
   core.backends.be:shut_bcksess()
   applet:set_status(200)
   applet:start_response()
   applet:send("cut")
end)
"""


def _start(write, luaproxy, port: int, tmp_path: Path, active: EchoServer, backup: EchoServer) -> tuple[str, int]:
    ctl = free_port()
    write("live.lua", LUA)
    write("live.cfg", f"""
        global
           nbproc 2
           lua-load live.lua
           stats socket {tmp_path}/admin.sock level admin
        defaults
           timeout client 10s
           timeout server 10s
           timeout connect 2s
        frontend fe
           mode tcp
           bind 127.0.0.1:{port}
           default_backend be
        backend be
           mode tcp
           balance roundrobin
           server e 127.0.0.1:{active.port}
           server b 127.0.0.1:{backup.port} backup
        frontend ctl
           mode http
           bind 127.0.0.1:{ctl}
           http-request use-service lua.cut if {{ path /cut }}
           http-request use-service lua.list
        """)
    luaproxy("-f", "live.cfg", wait_port=port, workers=2)
    return str(tmp_path / "admin.sock"), ctl


def _every_worker(ctl: int) -> set[str]:
    """The list as each worker sees it (asked until both pids answered)."""
    answers: dict[str, str] = {}
    for _ in range(60):
        raw = http_exchange(ctl, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        head, _, body = raw.partition(b"\r\n\r\n")
        pid = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n") if line.lower().startswith(b"x-pid"))
        answers[pid.decode()] = body.decode()
        if len(answers) == 2:
            break
    assert len(answers) == 2, answers
    return set(answers.values())


def test_servers_follow_add_and_del_server_in_every_worker(write, luaproxy, port, tmp_path):
    active, backup = EchoServer(b"A:"), EchoServer(b"B:")
    try:
        admin, ctl = _start(write, luaproxy, port, tmp_path, active, backup)
        first = "b=b/2,e=e/1"
        assert _every_worker(ctl) == {f"{first};-;0;true"}
        assert cli(admin, "add server be/added 127.0.0.1:9\n") == "New server registered.\n\n"
        assert _every_worker(ctl) == {f"added=added/3,{first};added;0;true"}
        assert cli(admin, "del server be/added\n") == "Server deleted.\n\n"
        assert _every_worker(ctl) == {f"{first};-;0;true"}
    finally:
        active.close()
        backup.close()




def test_shut_bcksess_cuts_only_the_backup_servers_sessions(write, luaproxy, port, tmp_path):
    active, backup = EchoServer(b"A:"), EchoServer(b"B:")
    try:
        admin, ctl = _start(write, luaproxy, port, tmp_path, active, backup)
        on_active = echo_sessions(port, 4, b"A:")
        assert cli(admin, "disable server be/e\n") == "\n"
        assert wait_until(lambda: echo_sessions(port, 1, b"B:") is not None, 5)
        on_backup = echo_sessions(port, 4, b"B:")
        reply = http_exchange(ctl, b"GET /cut HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert b"\r\ncut\r\n" in reply
        assert all(connection_cut(sock) for sock in on_backup)
        for sock in on_active:  # the active server's sessions go on
            sock.sendall(b"again")
            assert sock.recv(20) == b"A:again"
    finally:
        active.close()
        backup.close()
