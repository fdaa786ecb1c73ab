"""Cutting a server's sessions: ``shutdown sessions server`` and Lua's ``Server:shut_sess()``, in every worker."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import (
    EchoServer,
    connection_cut,
    echo_sessions,
    free_port,
    http_exchange,
    parse_responses,
    wait_until,
)
from tests.supervisor.conftest import cli

LUA = """
core.register_service("cut", "http", function(applet)
   core.backends["be"].servers["e"]:shut_sess()
   applet:set_status(200)
   applet:start_response()
   applet:send("cut")
end)
"""


def _setup(write, luaproxy, port: int, tmp_path: Path) -> tuple[EchoServer, int]:
    echo, ctl = EchoServer(), free_port()
    write("cut.lua", LUA)
    write("s.cfg", f"""
        global
           nbproc 2
           lua-load cut.lua
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
           server e 127.0.0.1:{echo.port}
        frontend ctl
           mode http
           bind 127.0.0.1:{ctl}
           http-request use-service lua.cut
        """)
    luaproxy("-f", "s.cfg", wait_port=port, workers=2)
    return echo, ctl




def test_shutdown_sessions_server_cuts_them_in_every_worker(write, luaproxy, port, tmp_path):
    echo, _ = _setup(write, luaproxy, port, tmp_path)
    try:
        clients = echo_sessions(port, 6)
        admin = str(tmp_path / "admin.sock")
        assert cli(admin, "shutdown sessions server be/nope\n") == "No such server.\n\n"
        assert cli(admin, "shutdown sessions server be/e\n") == "\n"
        assert all(connection_cut(sock) for sock in clients)
        assert echo_sessions(port, 1)  # new sessions are served
    finally:
        echo.close()


def test_lua_shut_sess_cuts_them_in_every_worker(write, luaproxy, port, tmp_path):
    echo, ctl = _setup(write, luaproxy, port, tmp_path)
    try:
        clients = echo_sessions(port, 6)
        request = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        assert parse_responses(http_exchange(ctl, request))[0][0] == 200
        assert wait_until(lambda: all(connection_cut(sock) for sock in clients), 5)
    finally:
        echo.close()
