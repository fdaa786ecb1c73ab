"""Lua calls that spend their time inside one C function, where the count hook never fires.

Before lua_api/bounded.lua, each of these held the only worker until the
watchdog killed it: a backtracking pattern, string.rep of an empty string,
table.concat/move/remove over a range a metamethod makes free of memory,
string.format("%q") of tens of megabytes.  Now
each meets its transaction's time limit with an error naming the script's
line, the same worker keeps serving meanwhile, and nothing is respawned.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.helpers import http_exchange

from .kit import Probe

SCRIPT = """
local function answer(applet, text)
   applet:set_status(200)
   applet:add_header("content-length", tostring(#text))
   applet:start_response()
   applet:send(text)
end
local attacks = {
   backtrack = function() return string.find(string.rep("a", 30000), "a-a-a-b") end,
   quadratic = function() return string.find(string.rep("a", 2000000), "a*b") end,
   gsub = function() return string.gsub(string.rep("a", 200000), "a*b", "") end,
   gmatch = function() for _ in string.gmatch(string.rep("a", 200000), "(a*)b") do end end,
   plain = function() return string.find(string.rep("a", 20000000), string.rep("a", 5000) .. "b", 1, true) end,
   concat = function() return table.concat(setmetatable({}, {__index = table.concat}), "", 1, 1e15) end,
   move = function() return table.move({}, 1, 1e15, 2) end,
   remove = function() return table.remove(setmetatable({}, {__len = function() return 1e15 end}), 1) end,
   insert = function() return table.insert(setmetatable({}, {__len = function() return 1e15 end}), 1, 0) end,
   format = function()
      local s = string.rep("\0", 20000000)
      while true do local quoted = string.format("%q", s) end
   end,
}
core.register_service("attack", "http", function(applet)
   local name = applet.path:sub(2)
   attacks[name]()
   answer(applet, "done " .. name)
end)
core.register_service("ok", "http", function(applet)
   answer(applet, "ok " .. #string.rep("", 1e15) .. string.rep("ab", 3, ","))
end)
"""

ATTACKS = ["backtrack", "quadratic", "gsub", "gmatch", "plain", "concat", "move", "remove", "insert", "format"]


@pytest.fixture
def proxy(write, luaproxy, port):
    write("ccalls.lua", SCRIPT)
    write("ccalls.cfg", f"""
        global
           nbproc 1
           lua-load ccalls.lua
           tune.lua.service-timeout 1s
        defaults
           mode http
           timeout connect 1s
           timeout client 10s
           timeout server 10s
        frontend fe
           bind 127.0.0.1:{port}
           http-request use-service lua.ok if {{ path /probe }}
           http-request use-service lua.attack
        """)
    return luaproxy("-f", "ccalls.cfg", wait_port=port)


def get(port: int, path: str, timeout: float = 20.0) -> bytes:
    return http_exchange(port, f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode(), timeout)


def test_long_c_calls_meet_the_time_limit_and_the_worker_serves_on(proxy, port):
    worker = proxy.workers()[0]
    assert get(port, "/probe").endswith(b"ok 0ab,ab,ab")  # string.rep("", 1e15) answers "" at once
    replies: dict[str, tuple[bytes, float]] = {}

    def attack(name: str) -> None:
        began = time.monotonic()
        replies[name] = get(port, "/" + name), time.monotonic() - began

    with Probe(port, interval=0.05) as probe:
        threads = [threading.Thread(target=attack, args=(name,), daemon=True) for name in ATTACKS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(40)
    for name in ATTACKS:
        reply, took = replies[name]
        assert reply.startswith(b"HTTP/1.1 500"), (name, reply[:200], proxy.stderr()[-2000:])
        assert took < 25, (name, took)  # 1 s of Lua time each, ten sharing one worker
    report = probe.report()
    print("probe during the attacks:", report, {name: round(took, 1) for name, (_, took) in replies.items()})
    assert report.success >= 0.95 and report.p99 < 1.0, report
    assert proxy.workers() == [worker]  # held to its time limit, not killed by the watchdog
    log = proxy.stderr()
    assert log.count("execution timeout") >= len(ATTACKS), log[-3000:]
    assert "ccalls.lua:" in log
