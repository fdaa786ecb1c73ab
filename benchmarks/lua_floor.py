"""The design card's own ceiling: gevent + httptools + one Lua coroutine per request.

``python3 benchmarks/lua_floor.py PORT service|action-return|action-forward [BACKEND_PORT]``

A gevent server that parses every request with httptools (llhttp) and runs a
Lua function in a fresh coroutine through lupa's lua54, as a proxy whose own
layers cost nothing would: ``service`` lets Lua fill a table (status, headers,
body) that is joined into the response; ``action-return`` lets Lua set a
variable and a header, then answers a canned response; ``action-forward`` does
the same, then forwards the request to one kept-alive backend connection and
relays one read of its answer.  bench_http.py runs it with ``--floor`` beside
the bare gevent floor, so each run shows how far luaproxy is from its stack.
Needs httptools (`pip install httptools`).
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
local function service(req)
   local body = "hello world\\n"
   return {status = 200, headers = {["content-type"] = "text/plain", ["content-length"] = #body}, body = body}
end
local function action(req)
   req.vars["txn.tag"] = req.src
   req.headers["x-tag"] = req.src
   return nil
end
return function(kind, req)
   local co = coroutine.create(kind == "service" and service or action)
   local ok, reply = coroutine.resume(co, req)
   return reply
end
"""
CANNED = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\ncontent-type: text/plain\r\n\r\nhello world"


class Request:
    """What httptools hands over for one request."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_message_complete(self) -> None:
        self.complete = True


def serve(kind: str, backend_port: int | None):
    runtime = lupa.LuaRuntime()
    run = runtime.execute(LUA)
    table = runtime.table

    def handle(sock: socket.socket, address: tuple[str, int]) -> None:
        backend = None
        if backend_port is not None:
            backend = socket.create_connection(("127.0.0.1", backend_port))
            backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError, httptools.HttpParserError):
            while True:
                request = Request()
                parser = httptools.HttpRequestParser(request)
                while not request.complete:
                    data = sock.recv(65536)
                    if not data:
                        return
                    parser.feed_data(data)
                lua_request = table(src=address[0], vars=table(), headers=table(**{
                    name.decode("latin-1").lower().replace("-", "_"): value.decode("latin-1")
                    for name, value in request.headers}))
                reply = run(kind, lua_request)
                if kind == "service":
                    head = [f"HTTP/1.1 {reply['status']} OK"]
                    head += [f"{name}: {value}" for name, value in reply["headers"].items()]
                    sock.sendall(("\r\n".join(head) + "\r\n\r\n" + reply["body"]).encode())
                elif backend is None:
                    sock.sendall(CANNED)
                else:
                    lines = [f"GET {request.url.decode()} HTTP/1.1"]
                    lines += [f"{name}: {value}" for name, value in lua_request["headers"].items()]
                    backend.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
                    sock.sendall(backend.recv(65536))
        if backend is not None:
            backend.close()

    return handle


if __name__ == "__main__":
    port, mode = int(sys.argv[1]), sys.argv[2]
    kind = "service" if mode == "service" else "action"
    backend = int(sys.argv[3]) if mode == "action-forward" else None
    StreamServer(("127.0.0.1", port), serve(kind, backend)).serve_forever()
