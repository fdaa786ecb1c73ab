"""Test helpers: ways to cut a byte string, event normalisation and a joined client/server pair."""

from __future__ import annotations

import codecs
import random
from collections.abc import Callable, Iterator
from pathlib import Path

from luaproxy.worker.http import (
    NEED_DATA,
    PAUSED,
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Headers,
    InformationalResponse,
    Request,
    RequestHead,
    Response,
    ResponseHead,
)
from luaproxy.worker.http.state import CLIENT, DONE, SEND_BODY, SERVER

Feeder = Callable[[bytes], Iterator[bytes]]


def whole(raw: bytes) -> Iterator[bytes]:
    yield raw


def by_line(raw: bytes) -> Iterator[bytes]:
    yield from raw.splitlines(keepends=True)


def by_byte(raw: bytes) -> Iterator[bytes]:
    for i in range(len(raw)):
        yield raw[i : i + 1]


def random_chunks(seed: int) -> Feeder:
    def feed(raw: bytes) -> Iterator[bytes]:
        rng = random.Random(seed)
        pos = 0
        while pos < len(raw):
            size = rng.randint(1, 20)
            yield raw[pos : pos + size]
            pos += size

    feed.__name__ = f"random_{seed}"
    return feed


FEEDERS: list[Feeder] = [whole, by_line, by_byte, *(random_chunks(seed) for seed in (1, 2, 3))]


def load_http(path: Path) -> bytes:
    """A .http case: newlines in the file are layout only; escapes such as \\r\\n are the bytes."""
    text = b"".join(path.read_bytes().split(b"\n"))
    return codecs.escape_decode(text)[0]


def describe(event: Event | object) -> dict | str:
    """A JSON-comparable view of an event."""
    if isinstance(event, Request):
        head = event.head
        return {
            "type": "Request",
            "method": head.method,
            "target": head.target,
            "version": head.version,
            "headers": [list(field) for field in head.headers],
        }
    if isinstance(event, InformationalResponse | Response):
        head = event.head
        return {
            "type": type(event).__name__,
            "status": head.status,
            "reason": head.reason,
            "version": head.version,
            "headers": [list(field) for field in head.headers],
        }
    if isinstance(event, Data):
        return {"type": "Data", "data": event.data.decode("latin-1")}
    if isinstance(event, EndOfMessage):
        return {"type": "EndOfMessage", "trailers": [list(field) for field in event.trailers]}
    if isinstance(event, ConnectionClosed):
        return {"type": "ConnectionClosed"}
    return repr(event)


def merge_data(events: list) -> list:
    """Join consecutive Data events: how a body is cut depends on how the bytes arrived."""
    out: list = []
    for event in events:
        if event.get("type") == "Data" and out and out[-1].get("type") == "Data":
            out[-1] = {"type": "Data", "data": out[-1]["data"] + event["data"]}
        elif event.get("type") != "Data" or event["data"]:
            out.append(event)
    return out


def drain(conn: Connection) -> list[Event]:
    """Every event available now, stopping at NEED_DATA, PAUSED or ConnectionClosed."""
    events: list[Event] = []
    while True:
        event = conn.next_event()
        if event in (NEED_DATA, PAUSED):
            return events
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return events


class ConnectionPair:
    """A client and a server Connection joined in memory: what one sends, the other receives."""

    def __init__(self) -> None:
        self.client = Connection(CLIENT)
        self.server = Connection(SERVER)

    def send(self, role_conn: Connection, *events: Event) -> list[Event]:
        """Send events from one side; return what the other side parses from the bytes."""
        peer = self.server if role_conn is self.client else self.client
        for event in events:
            data = role_conn.send(event)
            if isinstance(event, ConnectionClosed):
                peer.receive_data(b"")
            elif data:
                peer.receive_data(data)
        return drain(peer)


class CaseRunner:
    """Drives one connection through a case, playing the other side of each exchange."""

    def __init__(self, spec: dict) -> None:
        self.role = SERVER if spec["role"] == "server" else CLIENT
        self.conn = Connection(self.role, **spec.get("limits", {}))
        self.methods = list(spec.get("methods", ["GET"]))
        self.events: list[dict] = []
        if self.role is CLIENT:
            self._send_request()

    def _send_request(self) -> None:
        method = self.methods.pop(0)
        self.conn.send(Request(RequestHead(method, "/", headers=Headers([("Host", "a")]))))
        self.conn.send(EndOfMessage())

    def _finish_exchange(self) -> None:
        if self.role is SERVER:
            self.conn.send(Response(ResponseHead(200, "OK", headers=Headers([("Content-Length", "0")]))))
            if self.conn.our_state is SEND_BODY:
                self.conn.send(EndOfMessage())
        if self.conn.states == {CLIENT: DONE, SERVER: DONE} and (self.role is SERVER or self.methods):
            self.conn.start_next_cycle()
            if self.role is CLIENT:
                self._send_request()

    def feed(self, data: bytes) -> None:
        self.conn.receive_data(data)
        while True:
            event = self.conn.next_event()
            if event in (NEED_DATA, PAUSED):
                return
            self.events.append(describe(event))
            if isinstance(event, ConnectionClosed):
                return
            if isinstance(event, EndOfMessage):
                self._finish_exchange()


def run_case(raw: bytes, spec: dict, feeder: Feeder) -> CaseRunner:
    runner = CaseRunner(spec)
    for piece in feeder(raw):
        runner.feed(piece)
    if spec.get("eof"):
        runner.feed(b"")
    return runner
