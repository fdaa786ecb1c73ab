"""One direction of a stream: HAProxy's channel with its input and output parts.

Input holds bytes received and not yet analysed or forwarded; output holds
bytes already forwarded and waiting for the peer.  Until the peer is connected
(``sink`` is None) output stays here; once it is, output is written at once.
Rules and Lua actions work on the input; after them the stream switches the
channel to forwarding and bytes pass straight through.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gevent.event import Event

Sink = Callable[[bytes], None]
MAXREWRITE = 1024
"""tune.maxrewrite's default: the part of a buffer kept free for rewrites."""


class Channel:
    __slots__ = ("_changed", "bufsize", "forwarding", "http", "input", "input_closed", "name", "on_wait", "output",
                 "readable", "sink")

    def __init__(self, name: str, bufsize: int) -> None:
        self.name = name
        self.bufsize = bufsize
        self.input = bytearray()
        self.output = bytearray()
        self.input_closed = False
        self.forwarding = False
        self.readable = True
        self.http = False
        """In HTTP mode the bytes live in the HTTP message: Lua may only ask about sizes and state."""
        self.sink: Sink | None = None
        self._changed: Event | None = None
        self.on_wait: Callable[[], None] | None = None
        """Called before anyone waits on this channel: a TCP stream starts reading its client only then."""

    # Producer side: the stream's reader for this direction.

    def feed(self, data: bytes) -> None:
        """Bytes from the peer: pass them on when forwarding, else keep them for analysis."""
        if self.forwarding and self.sink is not None:
            self.sink(data)
            return
        self.input += data
        self._notify()

    def close_input(self) -> None:
        self.input_closed = True
        self._notify()

    def wait_for_room(self, timeout: float | None = None) -> bool:
        """Block the reader while the input part is full (backpressure)."""
        while len(self.input) >= self.bufsize and not self.forwarding:
            if not self._wait_change(timeout):
                return False
        return True

    # Consumer side: rules, Lua actions, the stream.

    def wait_input(self, timeout: float | None = None, need_line: bool = False) -> bool:
        """Wait until the input part has data (a full line if asked) or is closed."""
        while not self.input_closed and (not self.input or (need_line and b"\n" not in self.input)):
            if not self._wait_change(timeout):
                return False
        return True

    def wait_more(self, size: int, timeout: float) -> bool:
        """Wait until the input part holds more than *size* bytes or is closed (bounded)."""
        deadline = time.monotonic() + timeout
        while not self.input_closed and len(self.input) <= size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._wait_change(remaining):
                return False
        return True

    def wait_for(self, condition: Callable[[], bool], timeout: float | None = None) -> bool:
        """Wait until *condition* holds or the input is closed (Lua's Channel.data/line/forward)."""
        while not self.input_closed and not condition():
            if not self._wait_change(timeout):
                return False
        return True

    @property
    def full(self) -> bool:
        """No more room for input, the rewrite reserve (tune.maxrewrite) kept aside, as HAProxy counts it."""
        return len(self.input) + len(self.output) >= self.bufsize - min(MAXREWRITE, self.bufsize // 2)

    def insert_input(self, data: bytes, offset: int) -> int:
        """Insert *data* at *offset* of the input; -1 when it does not fit."""
        if len(self.input) + len(data) > self.bufsize:
            return -1
        self.input[offset:offset] = data
        self._notify()
        return len(data)

    def splice_input(self, data: bytes, offset: int, length: int) -> int:
        """Replace *length* input bytes at *offset* by *data*; -1 when the result does not fit."""
        if len(self.input) - length + len(data) > self.bufsize:
            return -1
        self.input[offset : offset + length] = data
        self._notify()
        return len(data)

    def take(self, size: int | None = None) -> bytes:
        size = len(self.input) if size is None else min(size, len(self.input))
        data = bytes(self.input[:size])
        del self.input[:size]
        self._notify()
        return data

    def take_line(self) -> bytes:
        end = self.input.find(b"\n")
        return self.take(None if end < 0 else end + 1)

    def replace_input(self, data: bytes) -> int:
        if len(data) > self.bufsize:
            return -1
        self.input[:] = data
        self._notify()
        return len(data)

    def append_input(self, data: bytes) -> int:
        if len(self.input) + len(data) > self.bufsize:
            return -1
        self.input += data
        self._notify()
        return len(data)

    def forward(self, size: int) -> int:
        """Move up to *size* input bytes to the output part; returns how many moved."""
        moved = self.take(max(size, 0))
        self.send(moved)
        return len(moved)

    def send(self, data: bytes) -> int:
        """Queue bytes for the peer and write them now if it is connected (with nothing queued
        before them, as they are: no copy through the output part)."""
        if self.sink is not None and not self.output:
            self.sink(data)
            return len(data)
        self.output += data
        self.flush()
        return len(data)

    def flush(self) -> None:
        if self.sink is not None and self.output:
            data = bytes(self.output)
            self.output.clear()
            self.sink(data)

    def connect(self, sink: Sink) -> None:
        """The peer is connected: write what waited in the output part."""
        self.sink = sink
        self.flush()

    def start_forwarding(self) -> None:
        """Analysis is over: everything left in input goes out, later bytes pass through."""
        self.forward(len(self.input))
        self.forwarding = True
        self._notify()

    def _wait_change(self, timeout: float | None) -> bool:
        """Block until the other side changes the channel; the event exists only once someone waits."""
        if self.on_wait is not None:
            self.on_wait()
        if self._changed is None:
            self._changed = Event()
        self._changed.clear()
        return self._changed.wait(timeout)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
