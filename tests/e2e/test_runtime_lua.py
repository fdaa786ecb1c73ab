"""Lua at runtime: tasks, sleeps everywhere, context rules and limits, in real workers."""

from __future__ import annotations

import selectors
import socket
import time

from tests.helpers import talk, wait_until

BASE = """
global
   {global_extra}
   lua-load rt.lua
defaults
   timeout client 10s
listen p
   bind 127.0.0.1:{port}
   tcp-request content lua.{action}
"""


def start(write, luaproxy, port, script, action, global_extra="", workers=1):
    write("rt.lua", script)
    write("rt.cfg", BASE.format(port=port, action=action, global_extra=global_extra))
    return luaproxy("-f", "rt.cfg", wait_port=port, workers=workers)


def test_task_runs_in_every_worker_and_loops(write, luaproxy, port):
    script = """
        ticks = 0
        core.register_task(function(step)
           while true do
              ticks = ticks + step
              core.msleep(20)
           end
        end, 1)
        core.register_action("ticks", {"tcp-req"}, function(txn)
           txn.res:send(tostring(ticks) .. "\\n")
           txn:done()
        end)
        """
    start(write, luaproxy, port, script, "ticks", "nbproc 2", workers=2)
    time.sleep(0.5)
    answers = {int(talk(port)) for _ in range(20)}
    assert all(n >= 5 for n in answers), answers


def test_task_error_is_logged_and_worker_keeps_serving(write, luaproxy, port):
    script = """
        core.register_task(function()
           core.msleep(10)
           error("task exploded")
        end)
        core.register_action("alive", {"tcp-req"}, function(txn)
           txn.res:send("alive\\n")
           txn:done()
        end)
        """
    proc = start(write, luaproxy, port, script, "alive")
    assert wait_until(lambda: "task exploded" in proc.stderr(), 5)
    assert "Lua task: runtime error: rt.lua:3: task exploded" in proc.stderr()
    assert "stack traceback:" in proc.stderr()
    assert talk(port) == b"alive\n"


def test_action_registers_a_task(write, luaproxy, port):
    script = """
        flag = "unset"
        core.register_action("spawn", {"tcp-req"}, function(txn)
           if flag == "unset" then
              flag = "waiting"
              core.register_task(function() core.msleep(10); flag = "set by task" end)
           end
           core.msleep(100)
           txn.res:send(flag .. "\\n")
           txn:done()
        end)
        """
    start(write, luaproxy, port, script, "spawn")
    assert talk(port) in (b"set by task\n",)


def test_thousand_concurrent_sleepers_inside_pcall_gsub_sort(write, luaproxy, port):
    script = """
        core.register_action("sleepy", {"tcp-req"}, function(txn)
           local ok = pcall(function() core.msleep(100) end)
           local s = ("ab"):gsub("a", function(c) core.msleep(1); return "x" end)
           local t = {3, 1, 2}
           table.sort(t, function(a, b) core.yield(); return a < b end)
           txn.res:send(tostring(ok) .. s .. t[1] .. t[2] .. t[3] .. "\\n")
           txn:done()
        end)
        """
    start(write, luaproxy, port, script, "sleepy")
    count = 1000
    selector = selectors.DefaultSelector()
    socks = []
    started = time.monotonic()
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
        selector.register(s, selectors.EVENT_READ, bytearray())
    finished = 0
    answers = set()
    deadline = started + 20
    while finished < count and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            try:
                data = key.fileobj.recv(100)
            except OSError:
                data = b""
            if data:
                key.data.extend(data)
                continue
            answers.add(bytes(key.data))
            selector.unregister(key.fileobj)
            key.fileobj.close()
            finished += 1
    elapsed = time.monotonic() - started
    for s in socks:
        s.close()
    assert finished == count
    assert answers == {b"truexb123\n"}
    assert elapsed < 5, elapsed


def test_session_timeout_stops_a_busy_loop_only(write, luaproxy, port):
    script = """
        core.register_action("spin", {"tcp-req"}, function(txn)
           local peer = txn.req:getline()
           if peer == "spin\\n" then
              while true do pcall(function() end) end
           end
           txn.res:send("quick\\n")
           txn:done()
        end)
        """
    proc = start(write, luaproxy, port, script, "spin", "tune.lua.session-timeout 300ms")
    spinner = socket.create_connection(("127.0.0.1", port), timeout=5)
    spinner.sendall(b"spin\n")
    started = time.monotonic()
    assert talk(port, b"other\n") == b"quick\n"
    assert time.monotonic() - started < 0.3, "a busy loop must not starve other transactions"
    spinner.settimeout(5)
    assert spinner.recv(10) == b""
    spinner.close()
    assert wait_until(lambda: "execution timeout" in proc.stderr(), 5)
    assert "Lua function 'spin': execution timeout" in proc.stderr()
    assert talk(port, b"again\n") == b"quick\n"


def test_sleep_does_not_count_against_the_session_timeout(write, luaproxy, port):
    script = """
        core.register_action("nap", {"tcp-req"}, function(txn)
           core.msleep(600)
           txn.res:send("rested\\n")
           txn:done()
        end)
        """
    start(write, luaproxy, port, script, "nap", "tune.lua.session-timeout 200ms")
    assert talk(port) == b"rested\n"


def test_maxmem_fails_the_transaction_not_the_worker(write, luaproxy, port):
    script = """
        core.register_action("hog", {"tcp-req"}, function(txn)
           if txn.req:getline() == "hog\\n" then
              local t = {}
              for i = 1, 1e8 do t[i] = ("x"):rep(100) .. i end
           end
           txn.res:send("fine\\n")
           txn:done()
        end)
        """
    # the session timeout is lifted so that a loaded machine runs out of memory before out of time
    proc = start(write, luaproxy, port, script, "hog", "tune.lua.maxmem 64\n   tune.lua.session-timeout 60s")
    assert talk(port, b"hog\n", timeout=30) == b""
    assert wait_until(lambda: "not enough memory" in proc.stderr(), 10), proc.stderr()
    assert talk(port, b"small\n") == b"fine\n"


def test_context_violations_are_lua_errors(write, luaproxy, port):
    script = """
        core.register_init(function()
           local ok, err = pcall(function() local s = core.tcp(); s:connect("127.0.0.1", 1) end)
           init_result = tostring(err)
        end)
        local ok, err = pcall(core.tcp)
        body_result = tostring(err)
        core.register_action("report", {"tcp-req"}, function(txn)
           local ok2, err2 = pcall(core.register_action, "x", {"tcp-req"}, function() end)
           txn.res:send(body_result .. "\\n" .. init_result .. "\\n" .. tostring(err2) .. "\\n")
           txn:done()
        end)
        """
    start(write, luaproxy, port, script, "report")
    lines = talk(port).decode().splitlines()
    assert "core.tcp: not available in the body context" in lines[0]
    assert "Socket.connect: not available in the init context" in lines[1]
    assert "core.register_action: not available in the action context (allowed in: body)" in lines[2]


def test_set_nice_checks_its_range(write, luaproxy, port):
    script = """
        core.register_action("nice", {"tcp-req"}, function(txn)
           core.set_nice(-1024); core.set_nice(1024)
           local ok, err = pcall(core.set_nice, 1025)
           txn.res:send(tostring(ok) .. " " .. tostring(err) .. "\\n")
           txn:done()
        end)
        """
    start(write, luaproxy, port, script, "nice")
    assert b"false" in talk(port) and b"out of range -1024..1024" in talk(port)


def test_collected_sockets_are_closed(write, luaproxy, port, echo_server):
    script = f"""
        core.register_action("leak", {{"tcp-req"}}, function(txn)
           for i = 1, 5 do
              local s = core.tcp()
              s:connect("127.0.0.1", {echo_server.port})
              s:send("ping")
              s:receive(4)
           end
           collectgarbage()
           collectgarbage()
           txn.res:send("done\\n")
           txn:done()
        end)
        """
    start(write, luaproxy, port, script, "leak")
    assert talk(port) == b"done\n"
    assert len(echo_server.connections) == 5
    assert wait_until(lambda: echo_server.closed == 5, 5)


def test_fetches_and_converters_cannot_block(write, luaproxy, port):
    write("rt.lua", """
        core.register_fetches("sleepy", function(txn) core.msleep(10); return "slept" end)
        core.register_converters("lazy", function(s) core.yield(); core.sleep(1); return s end)
        """)
    write("rt.cfg", f"""
        global
           lua-load rt.lua
        defaults
           mode http
           timeout client 5s
        frontend fe
           bind 127.0.0.1:{port}
           http-request return status 200 content-type text/plain lf-string "[%[lua.sleepy]] [%[str(x),lua.lazy]]"
        """)
    proc = luaproxy("-f", "rt.cfg", wait_port=port)
    from tests.e2e.test_http import get

    assert get(port, "/")[2] == b"[] []"
    log = proc.stderr()
    assert "Lua sample-fetch 'sleepy': runtime error: rt.lua:1: core.msleep: not available in the sample-fetch" in log
    assert "Lua converter 'lazy': runtime error: rt.lua:2: core.sleep: not available in the converter" in log


def test_task_and_service_timeouts(write, luaproxy, port):
    write("rt.lua", """
        core.register_task(function() while true do end end)
        core.register_service("spin", "http", function(applet) while true do end end)
        """)
    write("rt.cfg", f"""
        global
           lua-load rt.lua
           tune.lua.task-timeout 200ms
           tune.lua.service-timeout 200ms
        defaults
           mode http
           timeout client 5s
        frontend fe
           bind 127.0.0.1:{port}
           http-request use-service lua.spin if {{ path /spin }}
           http-request return status 200 content-type text/plain string alive
        """)
    proc = luaproxy("-f", "rt.cfg", wait_port=port)
    from tests.e2e.test_http import get

    assert wait_until(lambda: "Lua task: runtime error" in proc.stderr(), 5)
    assert "execution timeout" in proc.stderr()
    assert get(port, "/spin")[0] == 500
    assert "Lua applet http 'spin': execution timeout" in proc.stderr()
    assert get(port, "/")[2] == b"alive"
