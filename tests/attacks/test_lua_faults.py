"""Lua faults, with and without limits: each ends its own transaction, the worker keeps serving.

One worker serves every request, so a fault that held it would show at once
in the probe's figures.
"""

from __future__ import annotations

import threading

import pytest

from tests.helpers import http_exchange, wait_until

from .kit import Probe, rss_kib

SCRIPT = """
core.register_service("ok", "http", function(applet)
   applet:set_status(200)
   applet:add_header("content-length", "2")
   applet:start_response()
   applet:send("ok")
end)
core.register_service("spin", "http", function(applet)
   while true do end
end)
core.register_service("hook", "http", function(applet)
   local ok, err = pcall(debug.sethook)
   applet:set_status(200)
   applet:start_response()
   applet:send(tostring(err))
end)
core.register_service("hookspin", "http", function(applet)
   pcall(debug.sethook)
   while true do end
end)
core.register_service("bomb", "http", function(applet)
   local t, chunk = {}, string.rep("x", 1024 * 1024)
   for i = 1, 600 do t[i] = chunk .. i end
   applet:set_status(200)
   applet:start_response()
   applet:send("survived")
end)
core.register_service("fail", "http", function(applet)
   error("boom")
end)
"""


def start(write, luaproxy, port: int, tune: str = "") -> object:
    write("faults.lua", SCRIPT)
    write("faults.cfg", f"""
        global
           nbproc 1
           lua-load faults.lua
           {tune}
        defaults
           mode http
           timeout connect 1s
           timeout client 10s
           timeout server 10s
        frontend fe
           bind 127.0.0.1:{port}
           http-request use-service lua.spin if {{ path /spin }}
           http-request use-service lua.hook if {{ path /hook }}
           http-request use-service lua.hookspin if {{ path /hookspin }}
           http-request use-service lua.bomb if {{ path /bomb }}
           http-request use-service lua.fail if {{ path /fail }}
           http-request use-service lua.ok
        """)
    return luaproxy("-f", "faults.cfg", wait_port=port)


def get(port: int, path: str, timeout: float = 15.0) -> bytes:
    return http_exchange(port, f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode(), timeout)


def in_background(port: int, path: str, count: int) -> list[threading.Thread]:
    threads = [threading.Thread(target=get, args=(port, path), daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


@pytest.mark.parametrize("path", ["/spin", "/hookspin"])
def test_an_endless_loop_ends_at_its_time_limit_and_others_are_served_meanwhile(write, luaproxy, port, path):
    """``debug.sethook`` is refused, so a script cannot lift the time limit (before: the worker froze)."""
    start(write, luaproxy, port, "tune.lua.service-timeout 1s")
    with Probe(port) as probe:
        attackers = in_background(port, path, 2)
        replies = [get(port, path)]
        for thread in attackers:
            thread.join(15)
    assert all(r.startswith(b"HTTP/1.1 500") for r in replies), replies
    report = probe.report()
    assert report.success >= 0.95 and report.p99 < 1.0, report


def test_debug_sethook_is_refused_with_a_clear_error(write, luaproxy, port):
    start(write, luaproxy, port)
    reply = get(port, "/hook")
    assert b"debug.sethook is not available" in reply


def test_a_memory_bomb_meets_the_default_ceiling_and_memory_goes_back(write, luaproxy, port):
    """No tune.lua.maxmem: the default 256 MB ceiling stops the bomb; the heap is given back."""
    proc = start(write, luaproxy, port, "tune.lua.service-timeout 20s")
    worker = proc.workers()[0]
    with Probe(port, interval=0.1, timeout=10) as probe:
        reply = get(port, "/bomb", timeout=30)
    assert reply.startswith(b"HTTP/1.1 500"), reply[:200]
    assert "not enough memory" in proc.stderr()
    assert wait_until(lambda: rss_kib(worker) < 120 * 1024, 5), rss_kib(worker)
    assert get(port, "/probe").endswith(b"ok")
    assert probe.report().success >= 0.9, probe.report()


def test_maxmem_zero_lifts_the_ceiling(write, luaproxy, port):
    start(write, luaproxy, port, "tune.lua.maxmem 0\n   tune.lua.service-timeout 20s")
    assert b"survived" in get(port, "/bomb", timeout=30)


def test_lua_errors_fail_only_their_transaction(write, luaproxy, port):
    start(write, luaproxy, port)
    with Probe(port) as probe:
        replies = [get(port, "/fail") for _ in range(20)]
    assert all(r.startswith(b"HTTP/1.1 500") for r in replies)
    report = probe.report()
    assert report.success == 1.0 and report.p99 < 1.0, report
