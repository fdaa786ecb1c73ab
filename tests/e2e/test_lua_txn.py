"""TXN in real transactions: private data across actions, logs, arguments, require()."""

from __future__ import annotations

import re

from tests.helpers import free_port, talk, wait_until


def test_priv_survives_between_actions_of_one_transaction(write, luaproxy, port):
    write("p.lua", """
        core.register_action("first", {"tcp-req"}, function(txn)
           assert(txn:get_priv() == nil)
           txn:set_priv({count = 1})
        end)
        core.register_action("second", {"tcp-req"}, function(txn)
           local p = txn:get_priv()
           p.count = p.count + 1
           txn.res:send("count=" .. p.count .. "\\n")
           txn:done()
        end)
        """)
    write("p.cfg", f"""
        global
           lua-load p.lua
        listen p
           bind 127.0.0.1:{port}
           tcp-request content lua.first
           tcp-request content lua.second
        """)
    luaproxy("-f", "p.cfg", wait_port=port)
    assert talk(port) == b"count=2\n"
    assert talk(port) == b"count=2\n"


def test_action_arguments(write, luaproxy, port):
    other = free_port()
    write("a.lua", """
        core.register_action("greet", {"tcp-req"}, function(txn, who, punct)
           txn.res:send("hello " .. who .. punct .. "\\n")
           txn:done()
        end, 2)
        function spec_form(txn, suffix)
           txn.res:send("spec " .. tostring(suffix) .. "\\n")
           txn:close()
        end
        """)
    write("a.cfg", f"""
        global
           lua-load a.lua
        listen modern
           bind 127.0.0.1:{port}
           tcp-request content lua.greet "big world" !
        listen spec
           bind 127.0.0.1:{other}
           tcp-request content lua spec_form
        """)
    luaproxy("-f", "a.cfg", wait_port=port)
    assert talk(port) == b"hello big world!\n"
    assert talk(other) == b"spec nil\n"


def test_logs_reach_stderr_in_haproxys_layout(write, luaproxy, port):
    write("l.lua", """
        core.Info("body says hi")
        core.register_action("chatty", {"tcp-req"}, function(txn)
           txn:Info("txn info")
           txn:Warning("txn warning")
           txn:log(core.err, "txn err")
           txn:deflog("txn default")
           txn:set_loglevel(core.notice)
           core.Alert("core alert")
           txn:done()
        end)
        """)
    write("l.cfg", f"""
        global
           lua-load l.lua
        listen p
           bind 127.0.0.1:{port}
           tcp-request content lua.chatty
        """)
    proc = luaproxy("-f", "l.cfg", wait_port=port)
    talk(port)
    assert wait_until(lambda: "core alert" in proc.stderr(), 5)
    log = proc.stderr()
    line = r"\[{}\] \d{{3}}/\d{{6}} \(\d+\) : {}"
    for level, text in [("info", "body says hi"), ("info", "txn info"), ("warning", "txn warning"),
                        ("err", "txn err"), ("info", "txn default"), ("alert", "core alert")]:
        assert re.search(line.format(level, text), log), (level, text, log)


def test_log_stdout_target_with_level(write, luaproxy, port):
    write("l.lua", """
        core.register_action("chatty", {"tcp-req"}, function(txn)
           txn:Info("dropped by level")
           txn:Warning("kept")
           txn:done()
        end)
        """)
    write("l.cfg", f"""
        global
           log stdout local0 warning
           lua-load l.lua
        listen p
           bind 127.0.0.1:{port}
           tcp-request content lua.chatty
        """)
    proc = luaproxy("-f", "l.cfg", wait_port=port)
    talk(port)
    assert wait_until(lambda: "kept" in proc.stdout(), 5)
    assert "dropped by level" not in proc.stdout()
    # In the foreground haproxy 2.6 copies every Lua log line to stderr, whatever the loggers' levels.
    assert "dropped by level" in proc.stderr() and "kept" in proc.stderr()


def test_lua_prepend_path_and_require(write, luaproxy, port, tmp_path):
    (tmp_path / "lib").mkdir()
    write("lib/greeting.lua", 'return { text = function() return "from a module" end }\n')
    write("m.lua", """
        local greeting = require("greeting")
        core.register_action("mod", {"tcp-req"}, function(txn)
           txn.res:send(greeting.text() .. "\\n")
           txn:done()
        end)
        """)
    write("m.cfg", f"""
        global
           lua-prepend-path "{tmp_path}/lib/?.lua"
           lua-load m.lua
        listen p
           bind 127.0.0.1:{port}
           tcp-request content lua.mod
        """)
    luaproxy("-f", "m.cfg", wait_port=port)
    assert talk(port) == b"from a module\n"


def test_init_functions_run_before_serving(write, luaproxy, port):
    write("i.lua", """
        ready = "no"
        core.register_init(function() ready = "yes" end)
        core.register_action("ready", {"tcp-req"}, function(txn)
           txn.res:send("ready=" .. ready .. "\\n")
           txn:done()
        end)
        """)
    write("i.cfg", f"""
        global
           lua-load i.lua
        listen p
           bind 127.0.0.1:{port}
           tcp-request content lua.ready
        """)
    luaproxy("-f", "i.cfg", wait_port=port)
    assert talk(port) == b"ready=yes\n"


def test_lua_load_per_thread_is_accepted(write, luaproxy, port):
    write("t.lua", 'core.register_action("hi", {"tcp-req"}, function(txn) txn.res:send("hi\\n") txn:done() end)\n')
    write("t.cfg", f"""
        global
           lua-load-per-thread t.lua
        listen p
           bind 127.0.0.1:{port}
           tcp-request content lua.hi
        """)
    luaproxy("-f", "t.cfg", wait_port=port)
    assert talk(port) == b"hi\n"
