"""The design card's own ceiling: gevent + httptools + one Lua coroutine per request.

``python3 benchmarks/lua_floor.py PORT service|action-return|action-forward [BACKEND_PORT]``

A gevent server that parses requests with httptools (llhttp, one parser per
connection) and runs a Lua function in a fresh coroutine through lupa's lua54
for each request, as a proxy whose own layers cost nothing would: ``service``
lets Lua fill a reply table (status, headers, body) that is joined into the
response; ``action-return`` lets Lua set a variable and compute a header, then
answers a canned response; ``action-forward`` does the same, then forwards the
request with the header to one kept-alive backend connection and relays one
read of its answer.  Each request costs one Python-to-Lua call; the Lua side
hands back plain strings.  bench_http.py runs it with ``--floor`` beside the
bare gevent floor, so each run shows how far luaproxy is from its stack.
Needs httptools (`.venv/bin/pip install -e ".[bench]"`).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import contextlib  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

import httptools  # noqa: E402
import lupa.lua54 as lupa  # noqa: E402
from gevent.server import StreamServer  # noqa: E402

LUA = """
local create, resume, concat = coroutine.create, coroutine.resume, table.concat
local function service(src)
   local body = "hello world\\n"
   return {status = 200, headers = {["content-type"] = "text/plain", ["content-length"] = #body}, body = body}
end
local function action(src)
   local vars = {}
   vars["txn.tag"] = src
   return src
end
-- Run one request's function in its own coroutine; a service's reply table is joined here.
return function(kind, src)
   if kind ~= "service" then
      local _, tag = resume(create(action), src)
      return tag
   end
   local _, reply = resume(create(service), src)
   local head = {"HTTP/1.1 ", reply.status, " OK\\r\\n"}
   for name, value in pairs(reply.headers) do
      head[#head + 1] = name .. ": " .. value .. "\\r\\n"
   end
   head[#head + 1] = "\\r\\n"
   head[#head + 1] = reply.body
   return concat(head)
end
"""
CANNED = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\ncontent-type: text/plain\r\n\r\nhello world"


class Request:
    """What httptools hands over for the request being parsed (reset by on_message_begin)."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[bytes] = []
        self.complete = False

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append(name + b": " + value + b"\r\n")

    def on_message_complete(self) -> None:
        self.complete = True


def serve(kind: str, backend_port: int | None):
    runtime = lupa.LuaRuntime(encoding="latin-1")
    run = runtime.execute(LUA)

    def handle(sock: socket.socket, address: tuple[str, int]) -> None:
        src = address[0]
        backend = None
        if backend_port is not None:
            backend = socket.create_connection(("127.0.0.1", backend_port))
            backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = Request()
        parser = httptools.HttpRequestParser(request)
        with contextlib.suppress(OSError, httptools.HttpParserError):
            while True:
                request.complete = False
                while not request.complete:
                    data = sock.recv(65536)
                    if not data:
                        return
                    parser.feed_data(data)
                result = run(kind, src)
                if kind == "service":
                    sock.sendall(result.encode("latin-1"))
                elif backend is None:
                    sock.sendall(CANNED)
                else:
                    backend.sendall(b"GET " + request.url + b" HTTP/1.1\r\n" + b"".join(request.headers)
                                    + b"x-tag: " + result.encode("latin-1") + b"\r\n\r\n")
                    sock.sendall(backend.recv(65536))
        if backend is not None:
            backend.close()

    return handle


if __name__ == "__main__":
    port, mode = int(sys.argv[1]), sys.argv[2]
    kind = "service" if mode == "service" else "action"
    backend = int(sys.argv[3]) if mode == "action-forward" else None
    StreamServer(("127.0.0.1", port), serve(kind, backend)).serve_forever()
