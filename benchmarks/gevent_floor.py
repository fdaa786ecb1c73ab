"""The floor under luaproxy's figures: a gevent server that does nothing but read and write.

``python3 benchmarks/gevent_floor.py PORT keep-alive|close|forward [BACKEND_PORT]``
answers every request head it reads with one canned response (keep-alive),
reads one request, answers, half-closes and drains as luaproxy's TCP hello
does (close), or relays each read to one kept-alive backend connection and one
read of its answer back (forward).  No parsing, rules, Lua or counters: what
the design card's gevent worker costs before luaproxy does any work.
bench_http.py runs it with ``--floor``.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import contextlib  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

from gevent.server import StreamServer  # noqa: E402

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\ncontent-type: text/plain\r\n\r\nhello world\n"
CLOSING = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhello world\n"


def keep_alive(sock: socket.socket, _address: object) -> None:
    with contextlib.suppress(OSError):
        while data := sock.recv(65536):
            sock.sendall(RESPONSE * data.count(b"\r\n\r\n"))


def close(sock: socket.socket, _address: object) -> None:
    with contextlib.suppress(OSError):
        sock.recv(65536)
        sock.sendall(CLOSING)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(1.0)
        while sock.recv(65536):
            pass


def forward(sock: socket.socket, _address: object) -> None:
    backend = socket.create_connection(("127.0.0.1", int(sys.argv[3])))
    backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with contextlib.suppress(OSError):
        while data := sock.recv(65536):
            backend.sendall(data)
            sock.sendall(backend.recv(65536))
    backend.close()


if __name__ == "__main__":
    handler = {"keep-alive": keep_alive, "close": close, "forward": forward}[sys.argv[2]]
    StreamServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
