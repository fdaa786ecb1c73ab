"""Round trips over real bytes: a client and a server Connection joined in memory, and a proxy between two.

Nothing is mocked: each side's ``send`` output is the other side's
``receive_data`` input, cut in seeded random pieces where it matters.
"""

from __future__ import annotations

import random

import pytest

from luaproxy.worker.http import (
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Headers,
    Request,
    RequestHead,
    Response,
    ResponseHead,
)
from luaproxy.worker.http.state import CLIENT, CLOSED, DONE, MUST_CLOSE, SERVER
from tests.http.httpkit import ConnectionPair, drain


def body_of(events: list[Event]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Data))


def test_request_and_response_survive_the_wire() -> None:
    pair = ConnectionPair()
    fields = [("Host", "example.test"), ("x-MiXeD", "caf\xe9 \t au lait"), ("X-Dup", "1"), ("x-dup", "2")]
    patch = Request(RequestHead("PATCH", "/p?q=1", headers=Headers(list(fields))))
    received = pair.send(pair.client, patch, EndOfMessage())
    head = received[0].head
    assert (head.method, head.target, head.version, head.headers.fields) == ("PATCH", "/p?q=1", "HTTP/1.1", fields)
    assert isinstance(received[1], EndOfMessage)
    reply = [("Content-Length", "3"), ("ETag", '"x"')]
    created = Response(ResponseHead(201, "Cr\xe9\xe9", headers=Headers(reply)))
    back = pair.send(pair.server, created, Data(b"abc"), EndOfMessage())
    got = back[0].head
    assert (got.status, got.reason, got.version, got.headers.fields) == (201, "Cr\xe9\xe9", "HTTP/1.1", reply)
    assert body_of(back) == b"abc"
    assert pair.client.states == pair.server.states == {CLIENT: DONE, SERVER: DONE}


def test_chunked_both_ways_with_trailers() -> None:
    pair = ConnectionPair()
    post = Request(RequestHead("POST", "/", headers=Headers([("Transfer-Encoding", "chunked")])))
    got = pair.send(pair.client, post, Data(b"he"), Data(b""), Data(b"llo"), EndOfMessage(Headers([("X-T", "1")])))
    assert body_of(got) == b"hello"
    assert got[-1].trailers.fields == [("X-T", "1")]
    head = ResponseHead(200, "OK", headers=Headers([("Transfer-Encoding", "chunked")]))
    wire = pair.server.send(Response(head)) + pair.server.send(Data(b"x" * 26)) + pair.server.send(EndOfMessage())
    assert wire.endswith(b"\r\n\r\n1a\r\n" + b"x" * 26 + b"\r\n0\r\n\r\n")


def test_keep_alive_exchanges_in_a_row() -> None:
    pair = ConnectionPair()
    for i in range(5):
        get = Request(RequestHead("GET", f"/{i}", headers=Headers([("Host", "a")])))
        got = pair.send(pair.client, get, EndOfMessage())
        assert got[0].head.target == f"/{i}"
        length = str(i)
        reply = pair.send(
            pair.server,
            Response(ResponseHead(200, "OK", headers=Headers([("Content-Length", length)]))),
            Data(b"z" * i),
            EndOfMessage(),
        )
        assert body_of(reply) == b"z" * i
        pair.client.start_next_cycle()
        pair.server.start_next_cycle()


def test_close_is_seen_by_the_peer() -> None:
    pair = ConnectionPair()
    pair.send(pair.client, Request(RequestHead("GET", "/", headers=Headers([("Connection", "close")]))), EndOfMessage())
    head = ResponseHead(200, "OK", headers=Headers([("Content-Length", "0")]))
    pair.send(pair.server, Response(head), EndOfMessage())
    assert pair.server.our_state is MUST_CLOSE
    assert pair.send(pair.server, ConnectionClosed()) == [ConnectionClosed()]
    assert pair.client.states == {CLIENT: MUST_CLOSE, SERVER: CLOSED}


@pytest.mark.parametrize("seed", range(8))
def test_random_bodies_cut_anywhere(seed: int) -> None:
    rng = random.Random(seed)
    body = rng.randbytes(rng.randint(0, 5000))
    chunked = rng.random() < 0.5
    framing = ("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(body)))
    client, server = Connection(CLIENT), Connection(SERVER)
    wire = client.send(Request(RequestHead("PUT", "/blob", headers=Headers([framing]))))
    pos = 0
    while pos < len(body):
        step = rng.randint(1, 700)
        wire += client.send(Data(body[pos : pos + step]))
        pos += step
    wire += client.send(EndOfMessage())
    events: list[Event] = []
    pos = 0
    while pos < len(wire):
        step = rng.randint(1, 300)
        server.receive_data(wire[pos : pos + step])
        pos += step
        events += drain(server)
    assert isinstance(events[0], Request)
    assert body_of(events) == body
    assert isinstance(events[-1], EndOfMessage)


class Proxy:
    """The shape of the HTTP stream: a server side for the client, a client side for the backend."""

    def __init__(self) -> None:
        self.front = Connection(SERVER)
        self.back = Connection(CLIENT)

    def relay(self, source: Connection, target: Connection, data: bytes) -> bytes:
        source.receive_data(data)
        out = b""
        for event in drain(source):
            if isinstance(event, Request):
                event.head.headers.set("X-Forwarded-For", "192.0.2.1")
            out += target.send(event) if not isinstance(event, ConnectionClosed) else b""
        return out


def test_proxy_chain_streams_and_edits() -> None:
    client, proxy, backend = Connection(CLIENT), Proxy(), Connection(SERVER)
    wire = client.send(Request(RequestHead("POST", "/up", headers=Headers([("Host", "a"), ("Content-Length", "6")]))))
    to_backend = proxy.relay(proxy.front, proxy.back, wire + client.send(Data(b"abc")))
    to_backend += proxy.relay(proxy.front, proxy.back, client.send(Data(b"def")) + client.send(EndOfMessage()))
    backend.receive_data(to_backend)
    events = drain(backend)
    assert events[0].head.headers.get_all("x-forwarded-for") == ["192.0.2.1"]
    assert body_of(events) == b"abcdef"
    head = ResponseHead(200, "OK", headers=Headers([("Transfer-Encoding", "chunked")]))
    reply = backend.send(Response(head)) + backend.send(Data(b"streamed")) + backend.send(EndOfMessage())
    client.receive_data(proxy.relay(proxy.back, proxy.front, reply))
    got = drain(client)
    assert isinstance(got[0], Response) and body_of(got) == b"streamed"
    assert all(c.states == {CLIENT: DONE, SERVER: DONE} for c in (client, proxy.front, proxy.back, backend))


def test_proxy_dechunks_for_an_http10_client() -> None:
    # haproxy 2.6.12 sends the chunks on to an HTTP/1.0 client; RFC 9112 6.1 forbids it, so we close instead.
    proxy = Proxy()
    proxy.relay(proxy.front, proxy.back, b"GET / HTTP/1.0\r\n\r\n")
    backend_reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    to_client = proxy.relay(proxy.back, proxy.front, backend_reply)
    assert to_client == b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello"
    assert proxy.front.our_state is MUST_CLOSE


def test_proxy_relays_interim_and_until_close_bodies() -> None:
    proxy = Proxy()
    proxy.relay(proxy.front, proxy.back, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    out = proxy.relay(proxy.back, proxy.front, hints + b"HTTP/1.1 200 OK\r\n\r\nbo")
    out += proxy.relay(proxy.back, proxy.front, b"dy")
    out += proxy.relay(proxy.back, proxy.front, b"")
    assert out == (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody")


def test_proxy_keeps_the_client_on_an_http10_backend_answer() -> None:
    # haproxy 2.6.12 relays "HTTP/1.0 200 OK" with "connection: keep-alive" and answers the pipelined request too.
    proxy = Proxy()
    proxy.relay(proxy.front, proxy.back, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    to_client = proxy.relay(proxy.back, proxy.front, b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert to_client == b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
    assert proxy.front.states == {CLIENT: DONE, SERVER: DONE}
    assert proxy.back.our_state is MUST_CLOSE
    proxy.front.start_next_cycle()
