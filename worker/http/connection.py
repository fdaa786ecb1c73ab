"""One side of an HTTP/1.1 connection, free of I/O.

``receive_data`` only buffers (``b""`` is end of file), ``next_event`` returns an
event, ``NEED_DATA`` or ``PAUSED``, and ``send`` turns an event into bytes.  A
proxy holds a SERVER connection for its client and a CLIENT connection for
each backend; events from one are edited and sent on the other.

The usual exchange (keep-alive on, no protocol switch pending) takes a fast
path: each head is read, checked and framed in a few calls, and each move of
the state machine is one store of what its tables say.  Everything else goes
through :class:`~.state.ConnectionState`, which owns the rules.
"""

from __future__ import annotations

from .buffer import ReceiveBuffer
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    END_OF_MESSAGE,
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
    LENGTH,
    NO_BODY,
    PLAIN_REQUEST,
    UNTIL_CLOSE,
    UNTIL_CLOSE_BODY,
    Found,
    Framing,
    Tokens,
    keep_alive,
    keep_trailers_only,
    request_framing,
    response_framing,
)
from .message import RequestHead, ResponseHead
from .readers import (
    DEFAULT_MAX_HEAD_SIZE,
    DEFAULT_MAX_HEADERS,
    EMPTY_BODY_READER,
    BodyReader,
    ContentLengthReader,
    Limits,
    RequestHeadReader,
    ResponseHeadReader,
    body_reader,
    plain_request,
    plain_response,
)
from .state import (
    CLIENT,
    DONE,
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
from .writers import NO_BODY_WRITER, SKIPPED_BODY, BodyWriter, body_writer, write_request, write_response

_BODILESS_METHODS = frozenset({"HEAD", "CONNECT"})
"""Requests whose response has no body whatever its Content-Length says (a CONNECT's 2xx)."""


def _sent_as_read(head: RequestHead) -> str | None:
    """The text a request head came as (or grew to by appended fields), while its fields were never split from
    it and its first line is as read: what ``write_request`` writes for it, and what ``_plain_sent`` remembers."""
    read_as = head.headers.read_as
    if read_as is None or read_as[0] is not None or read_as[3] != (head.method, head.target, head.version):
        return None
    return read_as[2]


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
        # The head reader as a plain function of the class, not a bound method: one would make each
        # Connection a reference cycle, freed only by the garbage collector.
        if our_role is SERVER:
            self._read_head = Connection._read_request
            self._head_reader: RequestHeadReader | ResponseHeadReader = RequestHeadReader(self._limits)
        else:
            self._read_head = Connection._read_response
            self._head_reader = ResponseHeadReader(self._limits)
        self.buffer = ReceiveBuffer()
        """Bytes received and not parsed yet (callers only test it: empty means ``next_event`` has nothing to read)."""
        self.eof = False
        """The peer closed its side (``receive_data(b"")``)."""
        self.head_fields: Found = {}
        """The framing fields of the last head read (:func:`~.framing.read_fields`): whether it had a Connection
        field to drop, say, without a scan of the head."""
        self._body_reader: BodyReader | None = None
        self._body_writer: BodyWriter | None = None
        self._request_method: str | None = None
        self._websocket = False  # the request asked for an Upgrade to websocket
        self._peer_http11 = True
        self._waiting_for_100 = False
        self._plain_found: Found | None = None
        """The framing fields of the last request read that was plain: HTTP/1.1, bodiless, no Connection
        options, nothing to check (framing.PLAIN_REQUEST)."""
        self._plain_response: tuple[bytes, int, str, ResponseHead, Found] | None = None
        """Client side: the last response head read that was plain (``_note_plain_response``): its bytes, their
        size with its Content-Length's, its text, the head ``receive_whole`` gives for it and its framing fields."""
        self._plain_sent: tuple[str, bytes] | None = None
        """Client side: the text of the last request head sent that was plain (framing.PLAIN_REQUEST, written as
        read), and its bytes: the same head text again, unsplit, goes out as them (``send_message``)."""

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
        return bytes(self.buffer), self.eof

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the peer; ``b""`` means the peer closed its side."""
        if not data:
            self.eof = True
        elif self.eof:
            raise RuntimeError("received data after end of file")
        else:
            self.buffer += data

    def next_event(self) -> Event | Signal:
        """Parse the next event from the buffered bytes; a defect raises RemoteProtocolError."""
        role = self.their_role
        machine = self._state
        state = machine.states[role]
        try:
            if state is SEND_BODY:
                # Data leaves SEND_BODY where it is, so only the body's end moves the state.
                reader = self._body_reader
                assert reader is not None
                event = reader(self.buffer)
                if event is None:
                    if not self.eof:
                        return NEED_DATA
                    event = reader.read_eof()
                self._waiting_for_100 = False
                if type(event) is not Data:
                    if machine.keep_alive and not machine.switch_proposed:
                        machine.states[role] = DONE
                    else:
                        machine.process_event(role, EndOfMessage)
                return event
            if state is IDLE or state is SEND_RESPONSE:
                if self.buffer:
                    event = self._read_head(self)
                    if event is not None:
                        return event
                if not self.eof:
                    return NEED_DATA
            elif state is ERROR:
                raise RemoteProtocolError("the peer already sent an invalid message", self._status_for(400))
            return self._no_event(state)
        except LocalProtocolError as exc:
            raise self._remote_error(exc) from exc

    def next_request(self) -> RequestHead | Signal | None:
        """Server side, between requests: the next request's head itself (``next_event``'s Request without
        the event, which only the stream would unwrap), NEED_DATA, or None once the client closed."""
        if self._state.states[CLIENT] is IDLE and self.buffer:
            try:
                head = self._request_head()
            except LocalProtocolError as exc:
                raise self._remote_error(exc) from exc
            if head is not None:
                return head
        event = self.next_event()
        if event is NEED_DATA:
            return event
        return event.head if type(event) is Request else None  # type: ignore[union-attr]

    def _remote_error(self, exc: LocalProtocolError) -> RemoteProtocolError:
        """The peer's defect *exc*, read in ``next_event``: the connection's state becomes ERROR."""
        self._state.process_error(self.their_role)
        return RemoteProtocolError(str(exc), self._status_for(exc.status_hint))

    def send(self, event: Event) -> bytes:
        """Serialise an event we send; an invalid one raises LocalProtocolError and ends our side.

        Body events in SEND_BODY take the shortcut: Data moves no state, and the
        end of a kept-alive body only makes our side DONE.
        """
        machine = self._state
        role = self.our_role
        state = machine.states[role]
        try:
            kind = type(event)
            if state is SEND_BODY and (kind is Data or kind is EndOfMessage):
                assert self._body_writer is not None
                data = self._body_writer(event)
                if kind is EndOfMessage:
                    if machine.keep_alive and not machine.switch_proposed:
                        machine.states[role] = DONE
                    else:
                        machine.process_event(role, EndOfMessage)
                return data
            if state is ERROR:
                raise LocalProtocolError("can't send after an error")
            if kind is Response:
                return self._send_response(event.head)  # type: ignore[union-attr]
            if kind is Request:
                return self._send_request(event.head)  # type: ignore[union-attr]
            if kind is Data or kind is EndOfMessage:
                machine.process_event(role, kind)
                assert self._body_writer is not None
                return self._body_writer(event)
            return self._send_other(event)
        except LocalProtocolError:
            machine.process_error(role)
            raise

    def send_message(self, head: RequestHead | ResponseHead, body: bytes = b"",
                     end: EndOfMessage = END_OF_MESSAGE) -> bytes:
        """A whole message in one call: the bytes and moves of ``send`` of its head, ``Data(body)`` (when not
        empty) and *end* (a reply of our own, a request without a body, a response whose body came whole).

        Client side, the same plain head text again as the last one sent (``_plain_sent``; a pooled connection
        serves many clients, so equal, not only the same object), its fields unsplit and its first line as read,
        on an idle kept-alive connection, has the same framing and bytes: it goes out as those bytes, with the
        tables' moves of its head and end (the client's side DONE, the server's to answer)."""
        memo = self._plain_sent
        if memo is not None and not body:
            machine = self._state
            states = machine.states
            if _sent_as_read(head) == memo[0] and (  # type: ignore[arg-type]
                    states[CLIENT] is IDLE and states[SERVER] is IDLE and machine.keep_alive):
                self._request_method = head.method  # type: ignore[union-attr]
                states[CLIENT], states[SERVER] = DONE, SEND_RESPONSE
                self._body_writer = NO_BODY_WRITER
                return memo[1]
        if self.our_role is SERVER and not 200 <= head.status < 600:  # type: ignore[union-attr]
            raise LocalProtocolError(f"final response with status {head.status}")  # type: ignore[union-attr]
        machine = self._state
        role = self.our_role
        try:
            if machine.states[role] is ERROR:
                raise LocalProtocolError("can't send after an error")
            data = self._send_response(head) if role is SERVER else self._send_request(head)  # type: ignore[arg-type]
            states = machine.states
            if states[role] is not SEND_BODY:  # a protocol switch: the general moves say what may follow
                return data + (self.send(Data(body)) if body else b"") + self.send(end)
            writer = self._body_writer
            assert writer is not None
            if body or writer is not NO_BODY_WRITER:  # a bodiless message's writer adds nothing: no call
                data += writer.whole(body, end)
            if machine.keep_alive and not machine.switch_proposed:
                states[role] = DONE
            else:
                machine.process_event(role, EndOfMessage)
            return data
        except LocalProtocolError:
            machine.process_error(role)
            raise

    def plain_answer(self) -> bool:
        """Server side: a final response of ours may go out as bytes made whole elsewhere (``answered``):
        nothing in the exchange asks for more than Content-Length or chunks on a kept-alive HTTP/1.1
        connection (no switch proposed, no HEAD, nothing sent yet for this request).  A method, not a
        property: a property's getter is called through the interpreter's C layer (about 800 machine
        instructions more on every request answered whole)."""
        machine = self._state
        return machine.keep_alive and not machine.switch_proposed and self._peer_http11 and (
            machine.states[SERVER] is SEND_RESPONSE) and self._request_method != "HEAD"

    def answered(self) -> None:
        """Server side: a whole response went out as *plain_answer* allowed; the moves of ``send_message``."""
        self._waiting_for_100 = False
        self._state.states[SERVER] = DONE

    @property
    def body_framing(self) -> tuple[BodyReader | None, BodyWriter | None]:
        """The reader of the body being received and the writer of the one being sent: what splicing
        checks and advances when it moves body bytes this core never sees."""
        return self._body_reader, self._body_writer

    def take_body(self, below: int | None = None) -> bytes | None:
        """The rest of a body of known length when all of it is buffered (and shorter than *below*), its end
        read with it: what ``next_event`` gives as Data then EndOfMessage, in one call.  None (nothing taken)
        otherwise."""
        machine = self._state
        role = self.their_role
        reader = self._body_reader
        if machine.states[role] is not SEND_BODY:
            return None
        if reader is EMPTY_BODY_READER and (below is None or below > 0):  # bodiless: nothing to take or count down
            body = b""
        else:
            if type(reader) is not ContentLengthReader:
                return None
            remaining = reader.remaining  # type: ignore[union-attr]
            if remaining > len(self.buffer) or (below is not None and remaining >= below):
                return None
            body = self.buffer.take(remaining) if remaining else b""
            reader.remaining = 0  # type: ignore[union-attr]
        self._waiting_for_100 = False
        if machine.keep_alive and not machine.switch_proposed:
            machine.states[role] = DONE
        else:
            machine.process_event(role, EndOfMessage)
        return body

    def next_cycle(self) -> bool:
        """Start the next exchange if this one is complete on both sides and the connection stays open.

        One call for ``our_state is DONE and their_state is DONE`` then ``start_next_cycle()``; the
        machine's move (ConnectionState.start_next_cycle) is made here as the two stores it is.
        """
        machine = self._state
        states = machine.states
        if states[CLIENT] is not DONE or states[SERVER] is not DONE or not machine.keep_alive:
            return False
        states[CLIENT] = states[SERVER] = IDLE
        machine.switch_proposed = False
        # What an answer sent before the next request is read depends on (a 408, say); the reader, the
        # writer and the WebSocket flag are set by each head before anything reads them.
        self._request_method = None
        self._peer_http11 = True
        self._waiting_for_100 = False
        return True

    def start_next_cycle(self) -> None:
        """After a complete keep-alive exchange, get ready for the next (pipelined ones are buffered)."""
        if not self.next_cycle():
            raise LocalProtocolError(f"not in a reusable state: {self._state.states}")

    def _status_for(self, hint: int) -> int:
        """Any defect in a server's response is a 502; a request's defect keeps its hint."""
        return 502 if self.our_role is CLIENT else hint

    def _no_event(self, state: State) -> ConnectionClosed | Signal:
        """Nothing to parse: a signal, or the peer's close, which must come between messages."""
        if state is MIGHT_SWITCH_PROTOCOL or state is SWITCHED_PROTOCOL:
            return PAUSED
        if state is IDLE or state is SEND_RESPONSE:
            if not self.eof:
                return NEED_DATA
            if self.buffer:
                raise LocalProtocolError("connection closed in the middle of a message head")
            if state is SEND_RESPONSE:
                raise LocalProtocolError("server closed the connection without a response")
        elif self.buffer:
            return PAUSED
        elif not self.eof:
            return NEED_DATA
        self._waiting_for_100 = False
        self._state.process_event(self.their_role, ConnectionClosed)
        return ConnectionClosed()

    def _read_request(self) -> Request | None:
        """Server side: the next request, with its framing and the client's move, or None."""
        head = self._request_head()
        return None if head is None else Request(head)

    def _request_head(self) -> RequestHead | None:
        """Server side: the next request head, with its framing and the client's move, or None."""
        parsed = self._head_reader.read(self.buffer)
        if parsed is None:
            return None
        head, found = parsed
        self.head_fields = found
        framed = request_framing(head, found)
        framing, tokens, switch, expect = framed
        if "te" in found:
            keep_trailers_only(head.headers, found["te"])
        self._start_exchange(head, switch)
        http11 = self._peer_http11 = head.version[5:] >= "1.1"
        self._waiting_for_100 = http11 and expect
        if framed is PLAIN_REQUEST and http11:
            self._plain_found = found
        if not (http11 if not tokens else keep_alive(http11, tokens)) or (
                framing.kind is CHUNKED and (not http11 or "content-length" in found)):
            # Chunks from an HTTP/1.0 client, or a Content-Length that lost to them: HAProxy 2.6 forwards the
            # chunked request and closes after it, so nothing this client sent next can be read differently.
            self._state.process_keep_alive_disabled()
        self._body_reader = EMPTY_BODY_READER if framing is NO_BODY else body_reader(framing, self._limits)
        return head

    def receive_request(self, data: bytes | bytearray) -> RequestHead | None:
        """Server side, *data* just read with nothing buffered between requests: when it is exactly the last plain
        request head again (``_plain_found``: the head reader's last one, framed PLAIN_REQUEST), that head, with
        the moves ``next_request`` makes of it (those of ``_start_exchange`` with keep-alive on and both sides
        idle), *data* neither buffered nor matched; else None, *data* buffered as ``receive_data`` does, for
        ``next_request``.  A kept-alive client usually sends the same head again."""
        last = self._head_reader.last
        found = last[2]
        machine = self._state
        states = machine.states
        if found is not self._plain_found or data != last[3] or self.buffer or (  # type: ignore[misc]
                states[CLIENT] is not IDLE or states[SERVER] is not IDLE or not machine.keep_alive):
            self.receive_data(data)
            return None
        head = plain_request(last[1], last[0], found)
        self.head_fields = found
        self._request_method = head.method
        states[CLIENT], states[SERVER] = SEND_BODY, SEND_RESPONSE
        self._peer_http11 = True
        self._waiting_for_100 = False
        self._body_reader = EMPTY_BODY_READER
        return head

    def _read_response(self) -> Response | InformationalResponse | None:
        """Client side: the next response head, with its framing and the server's move, or None."""
        parsed = self._head_reader.read(self.buffer)
        if parsed is None:
            return None
        head, found = parsed
        self.head_fields = found
        machine = self._state
        if head.status < 200:
            switching = self._accepts_switch(head)
            machine.process_event(SERVER, InformationalResponse, switch_accepted=switching)
            return InformationalResponse(head)
        framing, tokens = response_framing(head, self._request_method, found)
        states = machine.states
        if machine.switch_proposed or not machine.keep_alive or states[SERVER] is not SEND_RESPONSE:
            machine.process_event(SERVER, Response, switch_accepted=self._accepts_switch(head))
        else:  # the tables' move for a Response when no switch was asked for
            if head.status == 101:
                self._accepts_switch(head)
            states[SERVER] = SEND_BODY
        http11 = head.version[5:] >= "1.1"
        if framing.kind is UNTIL_CLOSE or not (http11 if not tokens else keep_alive(http11, tokens)) or (
                framing.kind is CHUNKED and not http11):
            machine.process_keep_alive_disabled()
        self._body_reader = body_reader(framing, self._limits)
        # Its body sized by its head alone, whatever the request: Content-Length, or none at all (Content-Length: 0,
        # a 204, a 304) unless the request was a HEAD or CONNECT (the same head to a GET frames a body to come).
        if found is self._head_reader.last[2] and (framing.kind is LENGTH or (
                framing is NO_BODY and self._request_method not in _BODILESS_METHODS)) and (
                "connection" not in found and http11 and machine.keep_alive and not machine.switch_proposed):
            self._note_plain_response(head, found, framing.length)
        return Response(head)

    def _note_plain_response(self, head: ResponseHead, found: Found, length: int) -> None:
        """Remember a final HTTP/1.1 response head read as the head reader's last plain one (readers.
        ResponseHeadReader.last) whose body is sized by its own head and that keeps the connection open; with
        a head of its own made from it (not *head*, which its reader may edit), the one ``receive_whole`` gives."""
        text, line = head.headers.read_as[2], head.headers.read_as[3]  # type: ignore[index]
        memo = self._plain_response
        if memo is None or memo[2] is not text or memo[1] != len(memo[0]) + length:
            data = text.encode("latin-1")
            self._plain_response = (data, len(data) + length, text, plain_response(line, text, found), found)

    def receive_whole(self, data: bytes) -> tuple[ResponseHead, bytes] | None:
        """Client side, *data* just read with nothing buffered: when it is exactly the last plain response head
        again and its whole body (``_note_plain_response``), to a request whose method lets that body be, the
        head and *data*, the response read to its end (the moves of ``next_event`` to EndOfMessage); else None,
        *data* buffered as ``receive_data`` does.

        The head is the memo's own, the same object each time (no head made per response): it is for a relay
        that only reads it, a plain forward's (worker.http.stream ``_plain``: no rule, filter or capture edits
        a response there), and sends *data* as its bytes."""
        memo = self._plain_response
        machine = self._state
        states = machine.states
        if memo is None or len(data) != memo[1] or not data.startswith(memo[0]) or self.buffer or (
                states[SERVER] is not SEND_RESPONSE or not machine.keep_alive or machine.switch_proposed
                or self._request_method in _BODILESS_METHODS):
            self.receive_data(data)
            return None
        self.head_fields = memo[4]
        self._body_reader = EMPTY_BODY_READER
        states[SERVER] = DONE
        return memo[3], data

    def _start_exchange(self, head: RequestHead, switch: bool) -> None:
        """A request was read or sent: record its method and move the client side (the server to SEND_RESPONSE).

        With keep-alive on and no switch asked for, these are the tables' two stores; otherwise the machine moves.
        """
        self._request_method = head.method
        machine = self._state
        states = machine.states
        if switch or not machine.keep_alive or states[CLIENT] is not IDLE:
            machine.process_event(CLIENT, Request)
            if switch:
                self._propose_switch(head)
        else:
            states[CLIENT] = SEND_BODY
            if states[SERVER] is IDLE:
                states[SERVER] = SEND_RESPONSE

    def _propose_switch(self, head: RequestHead) -> None:
        self._state.process_client_switch_proposal()
        self._websocket = "websocket" in {v.lower() for v in head.headers.get_values("upgrade")}

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
        """Serialise a 1xx head; our ConnectionClosed writes nothing."""
        if type(event) is InformationalResponse:
            self._waiting_for_100 = False
            switching = self._accepts_switch(event.head)
            self._state.process_event(SERVER, InformationalResponse, switch_accepted=switching)
            return write_response(event.head)
        self._state.process_event(self.our_role, type(event))
        return b""

    def _send_request(self, head: RequestHead) -> bytes:
        """Serialise a request head and make its moves; a plain one written as read is remembered (``_plain_sent``:
        ``send_message`` sends it again as these bytes)."""
        as_read = _sent_as_read(head)
        framed = request_framing(head)
        framing, tokens, switch, _ = framed
        self._start_exchange(head, switch)
        if "close" in tokens:
            self._state.process_keep_alive_disabled()
        self._body_writer = NO_BODY_WRITER if framing is NO_BODY else body_writer(framing)
        data = write_request(head)
        if framed is PLAIN_REQUEST and as_read is not None:
            self._plain_sent = (as_read, data)
        return data

    def _send_response(self, head: ResponseHead) -> bytes:
        """Serialise a final response, fitted to our client unless it accepts a protocol switch."""
        self._waiting_for_100 = False
        machine = self._state
        switching = self._accepts_switch(head) if machine.switch_proposed or head.status == 101 else False
        framing, tokens = response_framing(head, self._request_method)
        if switching or not machine.keep_alive or tokens or framing.kind is UNTIL_CLOSE or not self._peer_http11 \
                or head.version[5:] < "1.1":
            framing = self._frame_for_peer(head, framing, tokens) if not switching else framing
        states = machine.states
        if switching or machine.switch_proposed or not machine.keep_alive or states[SERVER] is not SEND_RESPONSE:
            machine.process_event(SERVER, Response, switch_accepted=switching)
        else:  # the tables' move for a Response when no switch was asked for
            states[SERVER] = SEND_BODY
        self._body_writer = body_writer(framing) if self._request_method != "HEAD" else SKIPPED_BODY
        return write_response(head)

    def _frame_for_peer(self, head: ResponseHead, framing: Framing, tokens: Tokens) -> Framing:
        """Fit a response to our client and make its Connection field say what we will do.

        We close when the request asked to, when the response says ``close``,
        must end by closing or is an HTTP/1.0 one in chunks (as HAProxy 2.6
        does); otherwise an HTTP/1.0 client, or any client reading an HTTP/1.0
        status line, is told ``keep-alive``, as HAProxy 2.6 does.
        Unlike HAProxy, an HTTP/1.0 client never gets chunks (RFC 9112 6.1):
        the body is sent bare and ends when we close.
        """
        kind = framing.kind
        if kind is CHUNKED and not self._peer_http11:
            head.headers.remove("transfer-encoding")
            framing = UNTIL_CLOSE_BODY
        if not self._state.keep_alive or framing.kind is UNTIL_CLOSE or "close" in tokens or (
                kind is CHUNKED and head.version[5:] < "1.1"):
            if "close" not in tokens:
                head.headers.set("Connection", "close")
            self._state.process_keep_alive_disabled()
        elif not (self._peer_http11 and head.version[5:] >= "1.1") and "keep-alive" not in tokens:
            head.headers.set("Connection", "keep-alive")
        return framing
