"""Lua filters' http_payload stage on real responses: rewrite chunk by chunk, hold back until the end, fail."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.test_http import get, start
from tests.helpers import http_exchange, read_all

from .scripted import Answer, ScriptedBackend

LUA = """
Upper = {}
Upper.__index = Upper
function Upper:new() return setmetatable({seen = 0}, Upper) end
function Upper:start_analyze(txn, chn)
   if chn:is_resp() then filter.register_data_filter(self, chn) end
end
function Upper:http_payload(txn, msg)
   local data = msg:body()
   if data then
      self.seen = self.seen + #data
      msg:set(string.upper(data))
   end
end
function Upper:http_end(txn, msg) msg:add_header("x-never-sent", "1") end
core.register_filter("upper", Upper, function(f, args) return f end)

Whole = {}
Whole.__index = Whole
function Whole:new() return setmetatable({}, Whole) end
function Whole:start_analyze(txn, chn) filter.register_data_filter(self, chn) end
function Whole:http_payload(txn, msg)
   if not msg:eom() then return filter.WAIT end
   local size = msg:input()
   msg:remove()
   msg:send("[")
   msg:append(size .. " bytes]")
end
core.register_filter("whole", Whole, function(f, args) return f end)

Headers = {}
Headers.__index = Headers
function Headers:new() return setmetatable({}, Headers) end
function Headers:http_payload(txn, msg) error("not registered: never called") end
core.register_filter("headers", Headers, function(f, args) return f end)

Broken = {}
Broken.__index = Broken
function Broken:new() return setmetatable({}, Broken) end
function Broken:start_analyze(txn, chn) filter.register_data_filter(self, chn) end
function Broken:http_payload(txn, msg) error("broken filter") end
core.register_filter("broken", Broken, function(f, args) return f end)
"""

BODY = b"".join(b"chunk %05d of the body, lower case.\n" % i for i in range(3000))


@pytest.fixture
def backend():
    server = ScriptedBackend()
    server.answers["/plain"] = Answer([("Content-Type", "text/plain")], BODY)
    server.answers["/chunked"] = Answer([("Content-Type", "text/plain")], BODY, chunked=True)
    server.answers["/small"] = Answer([("Content-Type", "text/plain")], BODY[:5000], chunked=True)
    yield server
    server.close()


def test_http_payload_rewrites_holds_and_fails(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           use_backend whole if {{ path_beg /whole }}
           use_backend headers if {{ path_beg /headers }}
           use_backend broken if {{ path_beg /broken }}
           default_backend upper
        backend upper
           filter lua.upper
           server s1 127.0.0.1:{backend.port}
        backend whole
           http-request set-path /small
           filter lua.whole
           server s1 127.0.0.1:{backend.port}
        backend headers
           http-request set-path /plain
           filter lua.headers
           server s1 127.0.0.1:{backend.port}
        backend broken
           http-request set-path /plain
           filter lua.broken
           server s1 127.0.0.1:{backend.port}
        """, lua=LUA)
    for path in ("/plain", "/chunked"):
        status, headers, body = get(port, path)
        assert (status, body) == (200, BODY.upper()), path
        assert "content-length" not in headers and "x-never-sent" not in headers
    raw = http_exchange(port, b"HEAD /whole HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b"\r\n\r\n")  # what the filter writes goes nowhere
    status, headers, body = get(port, "/whole")
    assert body == b"[5000 bytes]"  # held back (filter.WAIT) until the end: it fits in a buffer
    assert get(port, "/headers")[2] == BODY  # no register_data_filter: the body is not filtered
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /broken HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = read_all(s, 5)
    unfiltered = answer.partition(b"\r\n\r\n")[2]  # the head may have left first ("transfer-encoding: chunked")
    assert not answer.endswith(b"0\r\n\r\n") and b"chunk" not in unfiltered  # cut short, no body byte unfiltered
    assert get(port, "/plain")[2] == BODY.upper()  # the worker lives on


def test_many_filtered_responses_keep_the_worker_alive(write, luaproxy, port, backend):
    """Freeing what a payload filter left behind once crashed a worker after some hundred responses."""
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           filter lua.upper
           default_backend be
        backend be
           server s1 127.0.0.1:{backend.port}
        """, lua=LUA)
    backend.answers["/"] = Answer([("Content-Type", "text/plain")], b"small body\n" * 10)
    request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"

    def client() -> int:
        done = 0
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            for _ in range(100):
                s.sendall(request)
                got = b""
                while not got.endswith(b"0\r\n\r\n"):
                    data = s.recv(65536)
                    if not data:
                        return done
                    got += data
                done += b"SMALL BODY" in got
        return done

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(lambda _: client(), range(8))) == 800  # a worker crash cuts connections short
