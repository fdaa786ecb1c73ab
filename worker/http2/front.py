"""One HTTP/2 request stream seen through the HTTP/1 connection's event interface.

:class:`~..http.stream.HttpStream` reads ``Request``/``Data``/``EndOfMessage``
events from its client connection and sends ``Response``/``Data``/``EndOfMessage``
back.  A StreamFront gives it the same calls for one h2 stream: the session's
greenlet queues what the client sent, and what the stream sends is framed on
the shared h2 connection and written at once (``send`` returns no bytes).
Flow control bounds both ways: the client's window on this stream reopens
only as the stream consumes the body, and a response waits for the client's
window, within the client timeout.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from gevent.event import Event as Flag
from h2.exceptions import H2Error

from ..http.errors import RemoteProtocolError
from ..http.events import (
    NEED_DATA,
    Data,
    EndOfMessage,
    InformationalResponse,
    Request,
    Response,
)
from ..http.message import RequestHead
from ..http.state import DONE, SEND_BODY, State
from ..http.stream import ClientGone
from .convert import response_fields, trailer_headers
from .whole import WholeMessages

if TYPE_CHECKING:
    from .session import H2Session

BODILESS = frozenset({204, 304})


class StreamFront(WholeMessages):
    """The client side of one h2 stream, with the calls HttpStream makes on its ``front``."""

    switch_proposed = False

    @staticmethod
    def plain_answer() -> bool:
        """Responses go out as HTTP/2 frames: never as HTTP/1 bytes made whole (Connection.plain_answer)."""
        return False

    def __init__(self, session: H2Session, stream_id: int, head: RequestHead, length: int | None,
                 refused: int | None = None) -> None:
        self.session = session
        self.stream_id = stream_id
        self.head = head
        self.length = length
        self.received = 0
        self.events: deque[Any] = deque([Request(head) if refused is None else
                                         RemoteProtocolError("invalid HTTP/2 request", refused)])
        self.arrived = Flag()
        self.ended = False  # the client ended its side (END_STREAM)
        self.ended_at_head = False  # with its HEADERS: the request has no body
        self.gone = False  # reset, or the connection is gone
        self.response_done = False
        self.held: list[tuple[str, str]] | None = None  # a bodyless response's head, sent with the end
        self.tunnel = False  # a CONNECT: its DATA frames are a tunnel's bytes once the server accepts
        self.protocol: str | None = None  # the :protocol of an extended CONNECT (websocket)
        self.switched = False
        self.bodyless = head.method == "HEAD"
        self.expect_100 = "100-continue" in head.headers.get_values("expect")
        self.sent_bytes = 0

    def open_tunnel(self, protocol: str | None) -> None:
        """A CONNECT's request has no body: its end is queued now, and its DATA frames wait for the switch."""
        self.tunnel = True
        self.protocol = protocol
        self.events.append(EndOfMessage())
        self.ended_at_head = True

    # What the session feeds in.

    def on_data(self, data: bytes) -> bool:
        """Body bytes from the client; False when they overrun the announced content-length."""
        self.received += len(data)
        if self.length is not None and self.received > self.length:
            return False
        self.expect_100 = False
        self.events.append(Data(data))
        self.arrived.set()
        return True

    def on_end(self, trailers: list[tuple[bytes, bytes]] | None = None) -> bool:
        """END_STREAM; False when the body fell short of the announced content-length."""
        if self.tunnel:  # the tunnel's half-close
            self.ended = True
            self.events.append(EndOfMessage())
            self.arrived.set()
            return True
        self.ended_at_head = self.received == 0 and len(self.events) == 1 and type(self.events[0]) is Request
        self.ended = True
        if self.length is not None and self.received != self.length:
            return False
        self.events.append(EndOfMessage(trailer_headers(trailers)) if trailers else EndOfMessage())
        self.arrived.set()
        return True

    def on_error(self, status: int) -> None:
        """The request cannot go on (reset, malformed body, connection lost): the stream stops reading."""
        self.gone = True
        self.events.append(RemoteProtocolError("HTTP/2 stream error", status))
        self.arrived.set()

    # What HttpStream calls.

    @property
    def their_state(self) -> State:
        return DONE if (self.ended or self.tunnel) and not self.events else SEND_BODY

    @property
    def buffer(self) -> deque[Any]:
        """What the client sent that the stream has not read yet: the HTTP/1 core's receive buffer's place
        (HttpStream asks whether it is empty)."""
        return self.events

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        return b"", self.gone

    @property
    def they_are_waiting_for_100_continue(self) -> bool:
        return self.expect_100 and not self.ended

    def receive_data(self, data: bytes) -> None:
        """Nothing to buffer: the session queues the client's events (see H2Stream._recv_client)."""

    def next_event(self) -> Any:
        if not self.events:
            return NEED_DATA
        event = self.events.popleft()
        if type(event) is Data:
            self.session.consumed(self.stream_id, len(event.data))
        elif isinstance(event, RemoteProtocolError):
            self.events.appendleft(event)
            raise event
        return event

    def next_request(self) -> RequestHead | Any:
        """As Connection.next_request: the request's head, NEED_DATA, or None (the stream is gone)."""
        event = self.next_event()
        if event is NEED_DATA:
            return event
        return event.head if type(event) is Request else None

    def wait(self, timeout: float | None) -> bool:
        """Until the client sends more; False on timeout."""
        if self.events:
            return True
        self.arrived.clear()
        return self.arrived.wait(timeout)

    def send(self, event: Any) -> bytes:
        kind = type(event)
        try:
            if kind is Data:
                if not self.response_done and self.held is None and event.data:
                    self._send_data(event.data)
            elif kind is EndOfMessage:
                if not self.response_done:
                    self.response_done = True
                    if self.held is not None:
                        self.session.send_headers(self.stream_id, self.held, True)
                    else:
                        self.session.end_stream(self.stream_id, event.trailers)
            elif kind is Response:
                head = event.head
                if self.tunnel and 200 <= head.status < 300:
                    self.switched = True
                    self.session.send_headers(self.stream_id, response_fields(head), False)
                    return b""
                self.bodyless = self.bodyless or head.status in BODILESS
                if self.bodyless or head.headers.get_all("content-length") == ["0"]:
                    # Held until the message ends (a body the server sends anyway is dropped first), then
                    # sent with END_STREAM.
                    self.held = response_fields(head)
                else:
                    self.session.send_headers(self.stream_id, response_fields(head), False)
            elif kind is InformationalResponse:
                fields = response_fields(event.head)
                if event.head.status == 101 and self.tunnel:  # an HTTP/1 server's switch is h2's 200
                    self.switched = True
                    fields = [(":status", "200")] + [f for f in fields[1:] if f[0] != "sec-websocket-accept"]
                self.session.send_headers(self.stream_id, fields, False)
                self.expect_100 = False
        except (H2Error, OSError) as exc:
            self.gone = True
            raise ClientGone(str(exc)) from None
        return b""

    def _send_data(self, data: bytes) -> None:
        self.sent_bytes += len(data)
        self.session.send_data(self.stream_id, data)

    def next_cycle(self) -> bool:
        """One request a stream."""
        return False

    def start_next_cycle(self) -> None:
        """Never called: a stream is never reused."""

    def __repr__(self) -> str:
        return f"StreamFront({self.stream_id})"
