"""Every Channel function, observed on the wire through a real echo backend."""

from __future__ import annotations

import socket
import time

import pytest

from tests.helpers import read_all

CONFIG = """
global
   lua-load chan.lua
defaults
   timeout connect 2s
   timeout client 5s
   timeout server 5s
listen proxy
   bind 127.0.0.1:{port}
   tcp-request content lua.{action}
   server echo 127.0.0.1:{echo}
"""

SCRIPT = r"""
local function report(txn, text) txn.res:send(text .. "\n") end

core.register_action("dup_get", {"tcp-req"}, function(txn)
  local line = txn.req:getline()
  report(txn, "line=" .. line:gsub("\n", "\\n"))
  report(txn, "dup=" .. txn.req:dup() .. " in=" .. txn.req:get_in_len())
  report(txn, "get=" .. txn.req:get() .. " in=" .. txn.req:get_in_len())
end)

core.register_action("spec_names", {"tcp-req"}, function(txn)
  local line = txn.req:get_line()
  report(txn, "line=" .. line:gsub("\n", "\\n") .. " in=" .. txn.req:get_in_length()
         .. " out=" .. txn.req:get_out_length())
end)

core.register_action("forward", {"tcp-req"}, function(txn)
  txn.req:getline()
  txn.req:getline()
  txn.req:forward(2)
  report(txn, "in=" .. txn.req:get_in_len() .. " out=" .. txn.req:get_out_len())
end)

core.register_action("set_append", {"tcp-req"}, function(txn)
  txn.req:getline()
  txn.req:set("SET:")
  txn.req:append("APPENDED")
  report(txn, "in=" .. txn.req:get_in_len())
end)

core.register_action("req_send", {"tcp-req"}, function(txn)
  txn.req:send("EARLY:")
  report(txn, "queued=" .. txn.req:get_out_len())
end)

core.register_action("empty", {"tcp-req"}, function(txn)
  report(txn, "dup=[" .. tostring(txn.req:dup()) .. "] get=[" .. tostring(txn.req:get()) .. "]")
end)

core.register_action("closed", {"tcp-req"}, function(txn)
  local line = txn.req:getline()
  local again = txn.req:getline()
  report(txn, "first=" .. tostring(line) .. " then=" .. tostring(again) .. " dup=" .. tostring(txn.req:dup()))
  txn:done()
end)

core.register_action("read_res", {"tcp-req"}, function(txn)
  local ok, err = pcall(function() return txn.res:get() end)
  report(txn, "res get in request action: " .. tostring(ok) .. " " .. tostring(err))
end)
"""


@pytest.fixture
def proxy(write, luaproxy, port, echo_server):
    def start(action: str) -> int:
        write("chan.lua", SCRIPT)
        write("chan.cfg", CONFIG.format(port=port, echo=echo_server.port, action=action))
        luaproxy("-f", "chan.cfg", wait_port=port)
        return port

    return start


def exchange(port: int, data: bytes, shutdown: bool = False, timeout: float = 2.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        return read_all(s, timeout)


def test_getline_dup_get(proxy):
    out = exchange(proxy("dup_get"), b"first\nsecond\nthird\n")
    assert out.startswith(b"line=first\\n\ndup=second\nthird\n in=13\nget=second\nthird\n in=0\n")
    assert b"ECHO" not in out


def test_spec_names(proxy):
    out = exchange(proxy("spec_names"), b"ab\ncd")
    assert out.startswith(b"line=ab\\n in=2 out=0\n")
    assert out.endswith(b"cd")


def test_forward_moves_input_to_output(proxy):
    port = proxy("forward")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"one\n")
        time.sleep(0.2)
        s.sendall(b"two\nabcdef\n")
        out = read_all(s, 1.5)
    assert out.startswith(b"in=5 out=2\n")
    assert out.endswith(b"abcdef\n")


def test_set_and_append_reach_the_server(proxy, echo_server):
    out = exchange(proxy("set_append"), b"dropped\n")
    assert out == b"in=12\nSET:APPENDED"
    assert echo_server.connections[-1] == b"SET:APPENDED"


def test_request_send_waits_for_the_server(proxy, echo_server):
    out = exchange(proxy("req_send"), b"payload")
    assert out.startswith(b"queued=6\n")
    assert echo_server.connections[-1] == b"EARLY:payload"


def test_empty_buffer_reads_give_empty_strings(proxy):
    out = exchange(proxy("empty"), b"")
    assert out.startswith(b"dup=[] get=[]\n")


def test_closed_input_gives_nil(proxy):
    out = exchange(proxy("closed"), b"last line without newline", shutdown=True)
    assert out == b"first=last line without newline then=nil dup=nil\n"


def test_response_channel_unreadable_in_request_action(proxy):
    out = exchange(proxy("read_res"), b"x")
    assert b"res get in request action: false" in out
    assert b"response channel cannot be read" in out
