"""Proxy:stop() closes the frontend's listening sockets for good, in every process: the port is free."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from tests.helpers import free_port, http_exchange, wait_until
from tests.supervisor.conftest import cli

LUA = """
core.register_service("stop", "http", function(applet)
   core.frontends.web:stop()
   core.frontends.web:resume()  -- a stopped proxy stays stopped
   local body = "stopped " .. core.frontends.web:get_stats().status
   applet:set_status(200)
   applet:add_header("content-length", #body)
   applet:start_response()
   applet:send(body)
end)
core.register_service("hello", "http", function(applet)
   applet:set_status(200)
   applet:add_header("content-length", "5")
   applet:start_response()
   applet:send("hello")
end)
"""


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _bindable(port: int) -> bool:
    """A bind without SO_REUSEPORT succeeds only when no process listens on the port any more."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the served connection's TIME_WAIT
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
    except OSError:
        return False
    finally:
        sock.close()
    return True


def test_stop_releases_the_port_in_every_process(write, luaproxy, tmp_path: Path):
    web, ctl = free_port(), free_port()
    write("stop.lua", LUA)
    write("stop.cfg", f"""
        global
           nbproc 2
           lua-load stop.lua
           stats socket {tmp_path}/admin.sock level admin
        defaults
           mode http
           timeout client 5s
           timeout server 5s
           timeout connect 2s
        frontend web
           bind 127.0.0.1:{web}
           http-request use-service lua.hello
        frontend ctl
           bind 127.0.0.1:{ctl}
           http-request use-service lua.stop
        """)
    proc = luaproxy("-f", "stop.cfg", wait_port=web, workers=2)
    request = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    assert http_exchange(web, request).endswith(b"hello")
    assert not _bindable(web)
    assert b"\r\n\r\nstopped " in http_exchange(ctl, request)  # the stop reaches this worker through the master
    assert wait_until(lambda: _refused(web) and _bindable(web), 5)
    admin = str(tmp_path / "admin.sock")
    assert cli(admin, "enable frontend web\n") == "Frontend was previously shut down, cannot enable.\n\n"
    # As haproxy 2.6.12: the frontend's status cell says STOP, Prometheus says DOWN; show info no longer
    # counts its listener (the stats socket counts as one, and this CLI connection as a job).
    stat = cli(admin, "show stat\n").splitlines()
    column = stat[0][2:].split(",").index("status")
    assert [row.split(",")[column] for row in stat if ",FRONTEND," in row] == ["STOP", "OPEN"]
    info = dict(line.split(": ", 1) for line in cli(admin, "show info\n").splitlines() if ": " in line)
    assert (info["Listeners"], info["Jobs"]) == ("2", "3")
    for pid in proc.workers():  # a respawned worker does not bind it again
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: len(proc.workers()) == 2 and http_exchange(ctl, request).endswith(b"stopped STOP"), 10)
    assert _refused(web) and _bindable(web)
    assert "Proxy web stopped." in proc.stderr()
