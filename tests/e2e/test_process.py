"""The process model: master and workers, signals, faults that must not kill a worker."""

from __future__ import annotations

import re
import signal

import pytest

from tests.helpers import alive, free_port, talk, wait_until

PID_SCRIPT = """
-- The worker's PID, read the portable way from /proc.
local function pid()
  local f = io.open("/proc/self/stat")
  local stat = f:read("*l")
  f:close()
  return stat:match("^(%d+)")
end

core.register_action("whoami", {"tcp-req"}, function(txn)
  txn.res:send(pid() .. "\\n")
  txn:done()
end)

core.register_action("boom", {"tcp-req"}, function(txn)
  local t = nil
  return t.field
end)
"""


def config(port: int, nbproc: int = 1, action: str = "whoami") -> str:
    return f"""
        global
           nbproc {nbproc}
           lua-load pid.lua
        defaults
           timeout client 5s
        listen who
           bind 127.0.0.1:{port}
           tcp-request content lua.{action}
        """


def test_nbproc_2_serves_from_both_workers(write, luaproxy, port):
    write("pid.lua", PID_SCRIPT)
    write("p.cfg", config(port, nbproc=2))
    proc = luaproxy("-f", "p.cfg", wait_port=port, workers=2)
    workers = set(proc.wait_workers(2))
    seen = {int(talk(port).strip()) for _ in range(60)}
    assert seen == workers


def test_process_titles(write, luaproxy, port):
    write("pid.lua", PID_SCRIPT)
    write("p.cfg", config(port))
    proc = luaproxy("-f", "p.cfg", wait_port=port)
    (worker,) = proc.wait_workers(1)

    def title(pid: int) -> str:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()

    assert title(proc.pid) == "luaproxy: master"
    assert title(worker) == "luaproxy: worker 1"


def test_sigterm_stops_everything_exit_0(write, luaproxy, port):
    write("pid.lua", PID_SCRIPT)
    write("p.cfg", config(port, nbproc=2))
    proc = luaproxy("-f", "p.cfg", wait_port=port, workers=2)
    workers = proc.wait_workers(2)
    proc.signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert wait_until(lambda: not any(alive(pid) for pid in workers), 5)


@pytest.mark.parametrize(("flags", "status"), [((), -signal.SIGINT), (("-W",), 130)])
def test_sigint_ends_as_haproxy_does(write, luaproxy, port, flags, status):
    """haproxy -d dies of the SIGINT itself; its master (-W) exits 130, as varnishtest expects of both."""
    write("pid.lua", PID_SCRIPT)
    write("p.cfg", config(port))
    proc = luaproxy(*flags, "-f", "p.cfg", wait_port=port)
    workers = proc.wait_workers(1)
    proc.signal(signal.SIGINT)
    assert proc.wait(10) == status
    assert wait_until(lambda: not any(alive(pid) for pid in workers), 5)


def test_lua_error_closes_only_that_connection(write, luaproxy, port, tmp_path):
    other = free_port()
    write("pid.lua", PID_SCRIPT)
    write("p.cfg", config(port, action="boom") + f"""
        listen who2
           bind 127.0.0.1:{other}
           tcp-request content lua.whoami
        """)
    proc = luaproxy("-f", "p.cfg", wait_port=port)
    (worker,) = proc.wait_workers(1)
    for _ in range(5):
        assert talk(port) == b""
    assert int(talk(other).strip()) == worker
    log = proc.stderr()
    assert "Lua function 'boom': runtime error: " in log
    assert "pid.lua:16: attempt to index a nil value (local 't')" in log
    assert "stack traceback:" in log
    assert proc.workers() == [worker]


def test_dead_worker_is_respawned(write, luaproxy, port):
    write("pid.lua", PID_SCRIPT)
    write("p.cfg", config(port))
    proc = luaproxy("-f", "p.cfg", wait_port=port)
    (worker,) = proc.wait_workers(1)
    import os

    os.kill(worker, signal.SIGKILL)
    assert wait_until(lambda: proc.workers() and proc.workers() != [worker], 5)
    assert int(talk(port).strip()) in proc.workers()
    log = proc.stderr()
    assert f"[ALERT]    ({proc.pid}) : Current worker ({worker}) exited with code 137 (Killed)\n" in log
    assert f"[NOTICE]   ({proc.pid}) : New worker ({proc.workers()[0]}) forked\n" in log


def test_master_logs_its_life_as_haproxy_26(write, luaproxy, port):
    """Start, reload, stop: the master's lines in haproxy 2.6's words (run haproxy -W -db to compare)."""
    write("pid.lua", PID_SCRIPT)
    write("p.cfg", config(port))
    proc = luaproxy("-f", "p.cfg", wait_port=port)
    (first,) = proc.wait_workers(1)
    assert wait_until(lambda: "path to executable is " in proc.stderr(), 5)
    proc.signal(signal.SIGUSR2)
    assert wait_until(lambda: f"Former worker ({first}) exited with code 0 (Exit)" in proc.stderr(), 10)
    (second,) = proc.wait_workers(1)
    proc.signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    lines = [line.split(" : ", 1) for line in proc.stderr().splitlines()]
    master = [text for head, text in lines if f"({proc.pid})" in head]
    assert master == [
        f"New worker ({first}) forked", "Loading success.", "luaproxy version is " + master[2].rsplit(" ", 1)[1],
        master[3], "Reloading luaproxy", f"New worker ({second}) forked", "Loading success.",
        f"Former worker ({first}) exited with code 0 (Exit)", "Exiting Master process...",
        f"Current worker ({second}) exited with code 0 (Exit)", "All workers exited. Exiting... (0)"]
    assert master[3].startswith("path to executable is /")


def test_soft_stop_finishes_requests_and_closes_idle_keep_alive(write, luaproxy, port):
    import socket
    import time

    from tests.helpers import HttpBackend, read_all

    backend = HttpBackend()
    try:
        write("s.cfg", f"""
            defaults
               mode http
               timeout client 10s
               timeout server 10s
               timeout http-keep-alive 10s
            listen p
               bind 127.0.0.1:{port}
               server s1 127.0.0.1:{backend.port}
            """)
        proc = luaproxy("-f", "s.cfg", wait_port=port)
        idle = socket.create_connection(("127.0.0.1", port), timeout=5)
        idle.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        first = b""
        while not first.endswith(b"}"):
            first += idle.recv(65536)
        busy = socket.create_connection(("127.0.0.1", port), timeout=5)
        busy.sendall(b"GET /slow/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        time.sleep(0.2)
        proc.signal(signal.SIGUSR1)
        started = time.monotonic()
        assert read_all(idle, 5) == b""
        assert time.monotonic() - started < 1
        assert b'"path": "/slow/1"' in read_all(busy, 5)
        assert proc.wait(10) == 0
        idle.close()
        busy.close()
    finally:
        backend.close()


def test_debug_mode_prints_connections_as_haproxy(write, luaproxy, port):
    write("d.cfg", f"""
        defaults
           mode http
           timeout client 5s
        frontend web
           bind 127.0.0.1:{port}
           http-request return status 200 content-type text/plain string ok
        """)
    proc = luaproxy("-d", "-f", "d.cfg", wait_port=port)
    answer = talk(port, b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")
    assert wait_until(lambda: ".closed[" in proc.stdout(), 5)
    lines = proc.stdout().splitlines()
    assert re.fullmatch(r"00000000:web\.accept\([0-9a-f]{4}\)=[0-9a-f]{4} from \[127\.0\.0\.1:\d+\] ALPN=<none>",
                        lines[0])
    fd = lines[0].rsplit("=", 2)[1][:4]
    assert lines[1:] == [f"00000000:web.clireq[{fd}:ffffffff]: GET /x HTTP/1.1",
                         f"00000000:web.clihdr[{fd}:ffffffff]: host: h",
                         f"00000000:web.clicls[{fd}:ffff]", f"00000000:web.closed[{fd}:ffff]"]


def test_frontend_maxconn_holds_new_connections_until_a_slot_frees(write, luaproxy, port):
    import socket

    write("m.cfg", f"""
        defaults
           mode http
           timeout client 5s
        frontend web
           bind 127.0.0.1:{port}
           maxconn 1
           http-request return status 200 content-type text/plain string ok
        """)
    luaproxy("-f", "m.cfg", wait_port=port)
    request = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as first:
        first.sendall(request)
        assert first.recv(65536).startswith(b"HTTP/1.1 200")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as second:
            second.sendall(request)
            second.settimeout(0.5)
            try:
                early = second.recv(65536)
            except TimeoutError:
                early = b""
            assert early == b""
            first.close()
            second.settimeout(5)
            assert second.recv(65536).startswith(b"HTTP/1.1 200")
