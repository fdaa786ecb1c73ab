"""Lua filters on TCP streams (``filter lua.NAME`` in ``mode tcp``): the parts haproxy 2.6.12 gets wrong or
that need luaproxy's own view (send/forward inside tcp_payload, holding until the peer closes, backend
filters, start_analyze before the content rules, errors).  tests/compat/test_compat_tcp.py compares the
plain line filter with haproxy."""

from __future__ import annotations

import socket
import time

from tests.helpers import free_port, read_all

LUA = """
-- Requests: "[" sent ahead, two bytes forwarded, the rest held back until a whole line is there.
Framer = {}
Framer.__index = Framer
function Framer:new() return setmetatable({}, Framer) end
function Framer:start_analyze(txn, chn)
   txn:set_var("txn.started", chn:is_resp() and "res" or "req")
   if not chn:is_resp() then filter.register_data_filter(self, chn) end
end
function Framer:tcp_payload(txn, chn)
   if chn:input() == 0 then return end
   local line = chn:line()
   if not line:find("\\n") and chn:may_recv() then return filter.WAIT end
   chn:send("[")
   local moved = chn:forward(2)
   chn:set(chn:data():gsub("\\n", "]\\n"), 0)
   chn:insert("(" .. moved .. ")", 0)
end
core.register_filter("framer", Framer, function(f, args) return f end)

-- Responses: everything held until the server closes, then replaced by its size.
Whole = {}
Whole.__index = Whole
function Whole:new() return setmetatable({}, Whole) end
function Whole:start_analyze(txn, chn)
   if chn:is_resp() then filter.register_data_filter(self, chn) end
end
function Whole:tcp_payload(txn, chn)
   if chn:may_recv() then return filter.WAIT end
   chn:set(string.format("<%d bytes>", chn:input()))
end
core.register_filter("whole", Whole, function(f, args) return f end)

Failing = {}
Failing.__index = Failing
function Failing:new() return setmetatable({}, Failing) end
function Failing:start_analyze(txn, chn) filter.register_data_filter(self, chn) end
function Failing:tcp_payload(txn, chn)
   if chn:data():find("boom") then error("boom seen") end
   if chn:data():find("stop") then return filter.ERROR end
end
core.register_filter("failing", Failing, function(f, args) return f end)

core.register_action("started", {"tcp-req"}, function(txn)
   txn.res:send("started=" .. tostring(txn:get_var("txn.started")) .. "\\n")
end)
"""


def start(write, luaproxy, port: int, echo: int, failing: int = 0) -> None:
    write("h.lua", LUA)
    write("h.cfg", f"""
        global
           lua-load h.lua
        defaults
           mode tcp
           timeout connect 2s
           timeout client 5s
           timeout server 5s
        frontend fe
           bind 127.0.0.1:{port}
           filter lua.framer
           tcp-request content lua.started
           default_backend be
        backend be
           filter lua.whole
           server echo 127.0.0.1:{echo}
        listen failing
           bind 127.0.0.1:{failing or free_port()}
           filter lua.failing
           server echo 127.0.0.1:{echo}
        """)
    luaproxy("-f", "h.cfg", wait_port=port)


def exchange(port: int, parts: list[bytes]) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for part in parts:
            s.sendall(part)
            time.sleep(0.2)
        s.shutdown(socket.SHUT_WR)
        return read_all(s, 3)


def test_send_forward_hold_and_backend_filter(write, luaproxy, port, echo_server):
    start(write, luaproxy, port, echo_server.port)
    # started=req: the request's start_analyze ran before the tcp-request content rules.  The framer held
    # "ab" until the line was whole, then sent "[", forwarded "ab" and rewrote the rest; the backend's filter
    # held the whole echo until the server closed and answered with its size.
    echoed = b"[ab(2)cd]\n"
    assert exchange(port, [b"ab", b"cd\n"]) == b"started=req\n" + b"<%d bytes>" % len(echoed)


def test_held_bytes_go_on_when_the_client_closes(write, luaproxy, port, echo_server):
    start(write, luaproxy, port, echo_server.port)
    # No newline ever: the framer sees its held bytes once more when the client closes, and lets them go.
    assert exchange(port, [b"abc"]) == b"started=req\n" + b"<%d bytes>" % len(b"[ab(2)c")


def test_errors_end_the_stream_only(write, luaproxy, port, echo_server):
    failing = free_port()
    start(write, luaproxy, port, echo_server.port, failing)
    with socket.create_connection(("127.0.0.1", failing), timeout=5) as s:
        s.sendall(b"fine\n")
        assert s.recv(100) == b"fine\n"
        s.sendall(b"boom\n")
        assert read_all(s, 3) == b""
    with socket.create_connection(("127.0.0.1", failing), timeout=5) as s:
        s.sendall(b"stop\n")
        assert read_all(s, 3) == b""
    assert exchange(failing, [b"still served\n"]) == b"still served\n"
