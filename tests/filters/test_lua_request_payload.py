"""Lua filters' http_payload on request bodies: rewritten on the way to the server, held back, failing."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

import pytest

from tests.e2e.test_http import start
from tests.helpers import ThreadedHttpServer, http_exchange, parse_responses

LUA = """
Upper = {}
Upper.__index = Upper
function Upper:new() return setmetatable({}, Upper) end
function Upper:start_analyze(txn, chn)
   if not chn:is_resp() then filter.register_data_filter(self, chn) end
end
function Upper:http_payload(txn, msg)
   local data = msg:body()
   if data then msg:set(string.upper(data)) end
end
core.register_filter("upper", Upper, function(f, args) return f end)

Whole = {}
Whole.__index = Whole
function Whole:new() return setmetatable({}, Whole) end
function Whole:start_analyze(txn, chn) filter.register_data_filter(self, chn) end
function Whole:http_payload(txn, msg)
   if msg:is_resp() then return end
   if not msg:eom() then return filter.WAIT end
   local size = msg:input()
   msg:remove()
   msg:send("[" .. size .. " bytes]")
end
core.register_filter("whole", Whole, function(f, args) return f end)

Broken = {}
Broken.__index = Broken
function Broken:new() return setmetatable({}, Broken) end
function Broken:start_analyze(txn, chn) filter.register_data_filter(self, chn) end
function Broken:http_payload(txn, msg) error("broken request filter") end
core.register_filter("broken", Broken, function(f, args) return f end)
"""

BODY = b"".join(b"line %05d of the upload, lower case.\n" % i for i in range(3000))


class EchoBackend(ThreadedHttpServer):
    """Answers each request with how its body came (chunked or not) and the body itself."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", ""):
                    body = b""
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return body
                return self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))

            def _answer(self) -> None:
                body = self._body()
                backend.bodies.append(body)
                framing = b"chunked" if "chunked" in self.headers.get("Transfer-Encoding", "") else b"length"
                reply = framing + b":" + body
                self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = _answer

        self.serve(Handler)


@pytest.fixture
def backend():
    server = EchoBackend()
    yield server
    server.close()


def post(port: int, path: str, body: bytes, chunked: bool = False) -> tuple[int, bytes]:
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n".encode()
    if chunked:
        pieces = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7000]), body[i:i + 7000])
                          for i in range(0, len(body), 7000))
        raw = head + b"Transfer-Encoding: chunked\r\n\r\n" + pieces + b"0\r\n\r\n"
    else:
        raw = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    (response,) = parse_responses(http_exchange(port, raw, 10))
    return response[0], response[2]


def test_http_payload_rewrites_holds_and_fails_request_bodies(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           use_backend whole if {{ path_beg /whole }}
           use_backend broken if {{ path_beg /broken }}
           default_backend upper
        backend upper
           filter lua.upper
           server s1 127.0.0.1:{backend.port}
        backend whole
           filter lua.whole
           server s1 127.0.0.1:{backend.port}
        backend broken
           filter lua.broken
           server s1 127.0.0.1:{backend.port}
        """, lua=LUA)
    assert post(port, "/", BODY) == (200, b"chunked:" + BODY.upper())  # the length may change: it leaves chunked
    assert post(port, "/", BODY, chunked=True) == (200, b"chunked:" + BODY.upper())
    raw = http_exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b"length:")  # no body: nothing to filter
    assert post(port, "/whole", BODY[:6000]) == (200, b"chunked:[6000 bytes]")  # held back until the end
    status, _ = post(port, "/broken", BODY)
    assert status == 500
    assert all(body != BODY for body in backend.bodies)  # the server never got the body unfiltered
    assert post(port, "/", b"again") == (200, b"chunked:AGAIN")  # the worker lives on
