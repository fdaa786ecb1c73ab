"""TCP-mode cases checked against Debian's haproxy 2.6 (the reference) when it is installed.

haproxy 2.6 no longer accepts the spec's ``tcp-request content lua FN`` form, so
these cases use ``core.register_action`` + ``lua.NAME``; the e2e tests cover the
spec's form on luaproxy alone.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.compat.harness import HAPROXY, Case, run_case
from tests.helpers import read_all, talk

DEFAULTS = """
    defaults
       mode tcp
       timeout connect 2s
       timeout client 5s
       timeout server 5s
"""


def lines_then_close(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"ab\ncdef\n")
        time.sleep(0.3)
        return read_all(s, 1.5)


def line_by_line(port: int) -> bytes:
    """Three writes that cut lines apart, then the client closes its side and reads everything
    ("<closed>" when the proxy cut the connection first)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            for part in (b"hel", b"lo\nwor", b"ld\n"):
                s.sendall(part)
                time.sleep(0.3)
            s.shutdown(socket.SHUT_WR)
            return read_all(s, 2)
        except OSError:
            return b"<closed>"


TCP_FILTER_LUA = """
-- A line-framing filter: requests go on a whole line at a time, each wrapped; responses in upper case.
Lines = {}
Lines.__index = Lines
function Lines:new() return setmetatable({}, Lines) end
function Lines:start_analyze(txn, chn) filter.register_data_filter(self, chn) end
function Lines:tcp_payload(txn, chn)
   if chn:input() == 0 then return end
   if chn:is_resp() then
      chn:set(string.upper(chn:data()))
      return
   end
   local line = chn:line()
   if not line:find("\\n") then return filter.WAIT end
   chn:set("LINE(" .. line:sub(1, -2) .. ")", 0, #line)
   return chn:input()
end
core.register_filter("lines", Lines, function(f, args) return f end)

Broken = {}
Broken.__index = Broken
function Broken:new() return setmetatable({}, Broken) end
function Broken:start_analyze(txn, chn) filter.register_data_filter(self, chn) end
function Broken:tcp_payload(txn, chn)
   if chn:input() > 0 then error("broken filter") end
end
core.register_filter("broken", Broken, function(f, args) return f end)

-- Where each side's analysis starts: the request's before the content rules, the response's before its own.
Order = {}
Order.__index = Order
function Order:new() return setmetatable({}, Order) end
function Order:start_analyze(txn, chn) txn:set_var("txn.started", chn:is_resp() and "res" or "req") end
core.register_filter("order", Order, function(f, args) return f end)
core.register_action("started", {"tcp-req", "tcp-res"}, function(txn)
   txn.res:send("started=" .. tostring(txn:get_var("txn.started")) .. "\\n")
end)
"""

CASES = [
    Case("lua_filter", """
        global
           lua-load case.lua
        """ + DEFAULTS + """
        listen p
           bind 127.0.0.1:{port}
           filter lua.lines
           server echo 127.0.0.1:{echo}
        """, line_by_line, TCP_FILTER_LUA),
    Case("lua_filter_analysis_order", """
        global
           lua-load case.lua
        """ + DEFAULTS + """
        listen p
           bind 127.0.0.1:{port}
           filter lua.order
           tcp-request content lua.started
           tcp-response inspect-delay 1s
           tcp-response content lua.started
           server echo 127.0.0.1:{echo}
        """, lambda port: talk(port, b"hi\n", shutdown=True), TCP_FILTER_LUA),
    Case("lua_filter_error_closes", """
        global
           lua-load case.lua
        """ + DEFAULTS + """
        listen p
           bind 127.0.0.1:{port}
           filter lua.broken
           server echo 127.0.0.1:{echo}
        """, line_by_line, TCP_FILTER_LUA),
    Case("hello", """
        global
           lua-load case.lua
        """ + DEFAULTS + """
        listen p
           bind 127.0.0.1:{port}
           tcp-request content lua.hello
        """, lambda port: talk(port), """
        core.register_action("hello", {"tcp-req"}, function(txn)
           txn.res:send("hello world\\n")
           txn:done()
        end)
        """),
    Case("channel", """
        global
           lua-load case.lua
        """ + DEFAULTS + """
        listen p
           bind 127.0.0.1:{port}
           tcp-request inspect-delay 1s
           tcp-request content lua.chan
           server echo 127.0.0.1:{echo}
        """, lines_then_close, """
        core.register_action("chan", {"tcp-req"}, function(txn)
          local l = txn.req:getline()
          txn.res:send("line=" .. tostring(l))
          local d = txn.req:dup()
          txn.res:send("dup=" .. tostring(d) .. " in=" .. txn.req:get_in_len()
                       .. " out=" .. txn.req:get_out_len() .. "\\n")
          txn.req:forward(2)
          txn.res:send("after fwd in=" .. txn.req:get_in_len() .. " out=" .. txn.req:get_out_len() .. "\\n")
          txn.req:append("APP")
          txn.req:set("SET")
          txn.res:send("after set in=" .. txn.req:get_in_len() .. "\\n")
        end)
        """),
    Case("lua_error_closes", """
        global
           lua-load case.lua
        """ + DEFAULTS + """
        listen p
           bind 127.0.0.1:{port}
           tcp-request content lua.boom
           server echo 127.0.0.1:{echo}
        """, lambda port: talk(port, b"data"), """
        core.register_action("boom", {"tcp-req"}, function(txn) local x = nil; return x.y end)
        """, deviation="haproxy 2.6 logs the error and goes on to the server; luaproxy closes the "
                       "connection, as issues #2 and #5 require (a failed action must not let traffic through)"),
    Case("reject", DEFAULTS + """
        listen p
           bind 127.0.0.1:{port}
           tcp-request content reject
           server echo 127.0.0.1:{echo}
        """, lambda port: talk(port, b"data")),
    Case("relay", DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           default_backend b
        backend b
           server echo 127.0.0.1:{echo}
        """, lambda port: talk(port, b"x" * 100_000, shutdown=True)),
    Case("response_action", """
        global
           lua-load case.lua
        """ + DEFAULTS + """
        listen p
           bind 127.0.0.1:{port}
           tcp-response inspect-delay 1s
           tcp-response content lua.shout
           server echo 127.0.0.1:{echo}
        """, lambda port: talk(port, b"quiet", shutdown=True), """
        core.register_action("shout", {"tcp-res"}, function(txn)
           local data = txn.res:getline()
           txn.res:send("<" .. tostring(data) .. ">")
        end)
        """),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_as_haproxy(case, tmp_path, echo_server):
    ours = run_case(case, "luaproxy", tmp_path, echo_server)
    if HAPROXY is None:
        pytest.skip("Debian's haproxy is not installed: only luaproxy ran")
    reference = run_case(case, "haproxy", tmp_path, echo_server)
    if case.deviation:
        assert ours != reference, f"no longer a deviation: {case.deviation}"
    else:
        assert ours == reference
