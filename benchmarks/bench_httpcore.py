"""The sans-I/O HTTP core alone: the calls one proxied exchange makes on its two Connections.

Run by hand: ``python benchmarks/bench_httpcore.py [--rounds 20000] [--profile] [--heads]``.
Replays, without sockets, what worker/http/stream.py does for one keep-alive
request forwarded to a kept-alive server (the ``forward`` scenario of
bench_http.py, wrk's request and haproxy's answer byte for byte), and a Lua
service's reply (``lua service``).  Prints the CPU microseconds per exchange (best of
five runs: steady on a loaded machine) and, with ``--profile``, the Python calls
per exchange by function, the figure that does not depend on the load at all.
``--heads`` compares the core's request head reader with httptools (llhttp, the
``bench`` extra) building the same RequestHead and framing fields, on wrk's
request and on a browser's: the measure behind keeping our reader (issue #15).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable

from luaproxy.worker.http import CLIENT, NEED_DATA, SERVER, Connection, Data, EndOfMessage, Request, Response
from luaproxy.worker.http.buffer import ReceiveBuffer
from luaproxy.worker.http.framing import read_fields
from luaproxy.worker.http.message import Headers, RequestHead, ResponseHead
from luaproxy.worker.http.readers import Limits, RequestHeadReader
from luaproxy.worker.http.state import DONE

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\ncontent-type: text/plain\r\n\r\nhello world"


def _read_request(front: Connection) -> Request:
    """As HttpStream reads a request: its head, the Connection field dropped if it has one, its (empty) body."""
    event = front.next_event()
    if event is NEED_DATA:
        front.receive_data(REQUEST)
        event = front.next_event()
    assert isinstance(event, Request), event
    if "connection" in front.head_fields:
        event.head.headers.remove("connection")
    assert front.take_body(16384) == b""
    return event


def _next_cycle(conn: Connection) -> None:
    assert conn.our_state is DONE and conn.their_state is DONE
    conn.start_next_cycle()


def forward(front: Connection, back: Connection) -> None:
    """One request read from the client, sent to the server, its response read and sent back (the usual
    case: a response whose body came with its head, relayed with it in one call each way)."""
    request = _read_request(front)
    out = back.send_message(request.head)
    assert out
    event = back.next_event()
    if event is NEED_DATA:
        back.receive_data(RESPONSE)
        event = back.next_event()
    assert isinstance(event, Response), event
    if "connection" in back.head_fields:
        event.head.headers.remove("connection")
    body = back.take_body()
    assert body is not None
    assert front.send_message(event.head, body)
    _next_cycle(back)
    _next_cycle(front)


def service(front: Connection, back: Connection) -> None:
    """One request answered by a Lua service: a head with Content-Length and its body, in one send."""
    _read_request(front)
    head = ResponseHead(200, "OK", "HTTP/1.1", Headers([("content-length", "12"), ("content-type", "text/plain")]))
    data = front.send(Response(head)) + front.send(Data(b"hello world\n")) + front.send(EndOfMessage())
    assert data
    _next_cycle(front)


SCENARIOS: dict[str, Callable[[Connection, Connection], None]] = {"forward": forward, "lua service": service}


def run(exchange: Callable[[Connection, Connection], None], rounds: int) -> float:
    front, back = Connection(SERVER), Connection(CLIENT)
    started = time.process_time()
    for _ in range(rounds):
        exchange(front, back)
    return (time.process_time() - started) / rounds * 1e6


def profile(exchange: Callable[[Connection, Connection], None], rounds: int, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(run, exchange, rounds)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = [(calls / rounds, f"{file.rsplit('/', 1)[-1]}:{line} {name}" if file != "~" else name)
            for (file, line, name), (_, calls, *_) in stats.items()
            if not name.startswith(("run", "<method 'disable'")) and "bench_httpcore" not in file]
    core = sum(n for n, where in rows if not where.startswith("<"))
    print(f"  {sum(n for n, _ in rows):.0f} calls/exchange, {core:.0f} of them Python functions")
    for calls, where in sorted(rows, reverse=True)[:top]:
        print(f"  {calls:6.1f}  {where}")


BROWSER_REQUEST = (b"GET /index.html?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Mozilla/5.0 (X11)"
                   b"\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\n"
                   b"Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\nCookie: a=b; c=d\r\n\r\n")


class _Fields:
    """httptools' callbacks, collecting what a RequestHead holds."""

    def __init__(self) -> None:
        self.fields: list[tuple[str, str]] = []
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name.decode("latin-1"), value.decode("latin-1")))


def compare_heads(rounds: int) -> None:
    """CPU us per request head: the core's reader against a fresh httptools parser fed the same head (found
    by the same search) and giving the same RequestHead and framing fields, without our strictness checks."""
    import httptools

    reader, buffer = RequestHeadReader(Limits()), ReceiveBuffer()

    def ours(raw: bytes) -> object:
        buffer.extend(raw)
        return reader.read(buffer)

    def llhttp(raw: bytes) -> object:
        buffer.extend(raw)
        end = buffer.find(b"\r\n\r\n") + 4
        head = bytes(buffer[:end])
        del buffer[:end]
        sink = _Fields()
        parser = httptools.HttpRequestParser(sink)
        parser.feed_data(head)
        fields = sink.fields
        return RequestHead(parser.get_method().decode(), sink.url.decode("latin-1"),
                           "HTTP/" + parser.get_http_version(), Headers(fields)), read_fields(fields)

    for name, raw in (("wrk request", REQUEST), ("browser request", BROWSER_REQUEST)):
        for parse in (ours, llhttp):
            started = time.process_time()
            for _ in range(rounds):
                parse(raw)
            print(f"{name}, {parse.__name__}: {(time.process_time() - started) / rounds * 1e6:.2f} us/head")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--heads", action="store_true")
    args = parser.parse_args()
    if args.heads:
        compare_heads(args.rounds)
        return
    for name, exchange in SCENARIOS.items():
        best = min(run(exchange, args.rounds) for _ in range(5))
        print(f"{name}: {best:.2f} us/exchange")
        if args.profile:
            profile(exchange, args.rounds // 10, args.top)


if __name__ == "__main__":
    main()
