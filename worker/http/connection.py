"""One side of an HTTP/1.1 connection, free of I/O.

``receive_data`` only buffers (``b""`` is end of file), ``next_event`` returns an
event, ``NEED_DATA`` or ``PAUSED``, and ``send`` turns an event into bytes.  A
proxy holds a SERVER connection for its client and a CLIENT connection for
each backend; events from one are edited and sent on the other.
"""

from __future__ import annotations

from .buffer import ReceiveBuffer
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    InformationalResponse,
    Request,
    Response,
    Signal,
)
from .framing import (
    CHUNKED,
    UNTIL_CLOSE,
    UNTIL_CLOSE_BODY,
    Framing,
    Tokens,
    keep_alive,
    request_framing,
    response_framing,
)
from .grammar import at_least_http11
from .message import RequestHead, ResponseHead
from .readers import (
    DEFAULT_MAX_HEAD_SIZE,
    DEFAULT_MAX_HEADERS,
    BodyReader,
    Limits,
    RequestHeadReader,
    ResponseHeadReader,
    body_reader,
)
from .state import (
    CLIENT,
    ERROR,
    IDLE,
    MIGHT_SWITCH_PROTOCOL,
    SEND_BODY,
    SEND_RESPONSE,
    SERVER,
    SWITCHED_PROTOCOL,
    ConnectionState,
    Role,
    State,
)
from .writers import BodyWriter, body_writer, write_request, write_response


class Connection:
    """The protocol state of one connection, seen from *our_role*."""

    def __init__(
        self,
        our_role: Role,
        *,
        max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
        max_headers: int = DEFAULT_MAX_HEADERS,
    ) -> None:
        self.our_role = our_role
        self.their_role = SERVER if our_role is CLIENT else CLIENT
        self._state = ConnectionState()
        self._limits = Limits(max_head_size, max_headers)
        self._head_reader = RequestHeadReader(self._limits) if our_role is SERVER else ResponseHeadReader(self._limits)
        self._buffer = ReceiveBuffer()
        self._eof = False
        self._reset_exchange()

    def _reset_exchange(self) -> None:
        self._body_reader: BodyReader | None = None
        self._body_writer: BodyWriter | None = None
        self._request_method: str | None = None
        self._websocket = False  # the request asked for an Upgrade to websocket
        self._peer_http11 = True
        self._waiting_for_100 = False

    @property
    def states(self) -> dict[Role, State]:
        return dict(self._state.states)

    @property
    def our_state(self) -> State:
        return self._state.states[self.our_role]

    @property
    def their_state(self) -> State:
        return self._state.states[self.their_role]

    @property
    def switch_proposed(self) -> bool:
        """The current request asks for a tunnel (CONNECT, or Upgrade listed in Connection)."""
        return self._state.switch_proposed

    @property
    def switched(self) -> bool:
        """A protocol switch was accepted: the bytes that follow belong to a tunnel."""
        return self._state.states[self.our_role] is SWITCHED_PROTOCOL

    @property
    def they_are_waiting_for_100_continue(self) -> bool:
        """Server side: the client sent ``Expect: 100-continue`` and waits before sending its body."""
        return self._waiting_for_100

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Bytes received and not parsed, and whether EOF came: a tunnel's first bytes after a switch."""
        return bytes(self._buffer), self._eof

    @property
    def buffered(self) -> bool:
        """Whether received bytes wait to be parsed (without copying them, as ``trailing_data`` does)."""
        return bool(self._buffer)

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the peer; ``b""`` means the peer closed its side."""
        if not data:
            self._eof = True
        elif self._eof:
            raise RuntimeError("received data after end of file")
        else:
            self._buffer += data

    def next_event(self) -> Event | Signal:
        """Parse the next event from the buffered bytes; a defect raises RemoteProtocolError."""
        state = self._state.states[self.their_role]
        if state is ERROR:
            raise RemoteProtocolError("the peer already sent an invalid message", self._status_for(400))
        try:
            if state is SEND_BODY:
                return self._next_body_event()
            if state is IDLE or state is SEND_RESPONSE:
                head_event = self._head_reader(self._buffer)
                if head_event is not None:
                    self._receive_head(head_event)
                    return head_event
            return self._no_event(state)
        except LocalProtocolError as exc:
            self._state.process_error(self.their_role)
            raise RemoteProtocolError(str(exc), self._status_for(exc.status_hint)) from exc

    def send(self, event: Event) -> bytes:
        """Serialise an event we send; an invalid one raises LocalProtocolError and ends our side.

        Data in SEND_BODY moves no state, so it goes straight to the body writer.
        """
        state = self._state.states[self.our_role]
        if state is ERROR:
            raise LocalProtocolError("can't send after an error")
        try:
            kind = type(event)
            if kind is Data or kind is EndOfMessage:
                if kind is not Data or state is not SEND_BODY:
                    self._state.process_event(self.our_role, kind)
                assert self._body_writer is not None
                return self._body_writer(event)
            return self._send_other(event)
        except LocalProtocolError:
            self._state.process_error(self.our_role)
            raise

    def start_next_cycle(self) -> None:
        """After a complete keep-alive exchange, get ready for the next (pipelined ones are buffered)."""
        self._state.start_next_cycle()
        self._reset_exchange()

    def _status_for(self, hint: int) -> int:
        """Any defect in a server's response is a 502; a request's defect keeps its hint."""
        return 502 if self.our_role is CLIENT else hint

    def _next_body_event(self) -> Data | EndOfMessage | Signal:
        """The next piece of the peer's body; Data leaves SEND_BODY where it is, so only its end moves the state."""
        reader = self._body_reader
        assert reader is not None
        event = reader(self._buffer)
        if event is None:
            if not self._eof:
                return NEED_DATA
            event = reader.read_eof()
        self._waiting_for_100 = False
        if type(event) is not Data:
            self._state.process_event(self.their_role, type(event))
        return event

    def _no_event(self, state: State) -> ConnectionClosed | Signal:
        """Nothing to parse: a signal, or the peer's close, which must come between messages."""
        if state is MIGHT_SWITCH_PROTOCOL or state is SWITCHED_PROTOCOL:
            return PAUSED
        if state is IDLE or state is SEND_RESPONSE:
            if not self._eof:
                return NEED_DATA
            if self._buffer:
                raise LocalProtocolError("connection closed in the middle of a message head")
            if state is SEND_RESPONSE:
                raise LocalProtocolError("server closed the connection without a response")
        elif self._buffer:
            return PAUSED
        elif not self._eof:
            return NEED_DATA
        self._waiting_for_100 = False
        self._state.process_event(self.their_role, ConnectionClosed)
        return ConnectionClosed()

    def _receive_head(self, event: Request | Response | InformationalResponse) -> None:
        if isinstance(event, Request):
            head = event.head
            framing, tokens, expect = self._start_request(head)
            http11 = at_least_http11(head.version)
            self._peer_http11 = http11
            self._waiting_for_100 = http11 and expect
            if not keep_alive(http11, tokens):
                self._state.process_keep_alive_disabled()
            self._body_reader = body_reader(framing, self._limits)
        elif isinstance(event, Response):
            head = event.head
            framing, tokens = response_framing(head, self._request_method)
            self._state.process_event(SERVER, Response, switch_accepted=self._accepts_switch(head))
            if framing.kind is UNTIL_CLOSE or not keep_alive(at_least_http11(head.version), tokens):
                self._state.process_keep_alive_disabled()
            self._body_reader = body_reader(framing, self._limits)
        else:
            switching = self._accepts_switch(event.head)
            self._state.process_event(SERVER, InformationalResponse, switch_accepted=switching)

    def _start_request(self, head: RequestHead) -> tuple[Framing, Tokens, bool]:
        """Check the request, record what the response's framing depends on, move the client side.

        Returns the request's framing, its Connection options and whether it says ``Expect: 100-continue``.
        """
        framing, tokens, switch, expect = request_framing(head)
        self._request_method = head.method
        self._state.process_event(CLIENT, Request)
        if switch:
            self._state.process_client_switch_proposal()
            self._websocket = "websocket" in {v.lower() for v in head.headers.get_values("upgrade")}
        return framing, tokens, expect

    def _accepts_switch(self, head: ResponseHead) -> bool:
        """101 to an Upgrade, or 2xx to a CONNECT; a 101 nobody asked for is refused (HAProxy: 502)."""
        if not self._state.switch_proposed:
            if head.status == 101:
                raise LocalProtocolError("101 Switching Protocols without an Upgrade request")
            return False
        if self._request_method == "CONNECT":
            return 200 <= head.status < 300
        if head.status == 101 and self._websocket and not head.headers.get_all("sec-websocket-accept"):
            raise LocalProtocolError("101 to a WebSocket upgrade without Sec-WebSocket-Accept")
        return head.status == 101

    def _send_other(self, event: Event) -> bytes:
        """Serialise a head; our ConnectionClosed writes nothing (Data and EndOfMessage take ``send``'s shortcut)."""
        if isinstance(event, Request):
            head = event.head
            framing, tokens, _ = self._start_request(head)
            if not keep_alive(True, tokens):
                self._state.process_keep_alive_disabled()
            self._body_writer = body_writer(framing)
            return write_request(head)
        if isinstance(event, InformationalResponse):
            self._waiting_for_100 = False
            switching = self._accepts_switch(event.head)
            self._state.process_event(SERVER, InformationalResponse, switch_accepted=switching)
            return write_response(event.head)
        if isinstance(event, Response):
            head = event.head
            self._waiting_for_100 = False
            switching = self._accepts_switch(head)
            framing, tokens = response_framing(head, self._request_method)
            if not switching:
                framing = self._frame_for_peer(head, framing, tokens)
            self._state.process_event(SERVER, Response, switch_accepted=switching)
            self._body_writer = body_writer(framing)
            return write_response(head)
        self._state.process_event(self.our_role, type(event))
        return b""

    def _frame_for_peer(self, head: ResponseHead, framing: Framing, tokens: Tokens) -> Framing:
        """Fit a response to our client and make its Connection field say what we will do.

        We close when the request asked to, when the response says ``close`` or
        must end by closing; otherwise an HTTP/1.0 client, or any client reading
        an HTTP/1.0 status line, is told ``keep-alive``, as HAProxy 2.6 does.
        Unlike HAProxy, an HTTP/1.0 client never gets chunks (RFC 9112 6.1):
        the body is sent bare and ends when we close.
        """
        if framing.kind is CHUNKED and not self._peer_http11:
            head.headers.remove("transfer-encoding")
            framing = UNTIL_CLOSE_BODY
        if not self._state.keep_alive or framing.kind is UNTIL_CLOSE or "close" in tokens:
            if "close" not in tokens:
                head.headers.set("Connection", "close")
            self._state.process_keep_alive_disabled()
        elif not (self._peer_http11 and at_least_http11(head.version)) and "keep-alive" not in tokens:
            head.headers.set("Connection", "keep-alive")
        return framing
