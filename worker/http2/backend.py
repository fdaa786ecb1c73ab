"""HTTP/2 towards a server (``server … proto h2``, or ``alpn h2`` chosen in the TLS handshake).

:class:`H2ServerHttp` takes the place of the HTTP/1 client ``Connection`` in a
``ServerConnection``: the same ``send``/``receive_data``/``next_event`` calls,
one exchange at a time on a new stream each, and the connection pooled between
them as an HTTP/1 one is.  Unlike the HTTP/1 core it writes to the socket
itself (``send`` returns no bytes): the body pump and the response relay both
produce frames, and the frames must leave whole and in order.
"""

from __future__ import annotations

import socket
from collections import deque
from typing import Any

from gevent.event import Event as Flag
from gevent.lock import Semaphore
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    InformationalResponseReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from h2.exceptions import H2Error
from h2.settings import SettingCodes, Settings
from hyperframe.frame import RstStreamFrame

from ..http.errors import LocalProtocolError, RemoteProtocolError
from ..http.events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    InformationalResponse,
    Request,
    Response,
)
from ..http.message import Headers, RequestHead, ResponseHead
from ..http.state import DONE, IDLE, SEND_BODY, SEND_RESPONSE, State
from ..netutil import send_all
from .convert import MalformedMessage, request_fields, response_head, trailer_headers
from .settings import Encoder, h2_config
from .websocket import websocket_accept
from .whole import WholeMessages

READ_SIZE = 65536


class H2ServerHttp(WholeMessages):
    """The client side of an HTTP/2 connection to a server, one exchange at a time."""

    switch_proposed = False
    they_are_waiting_for_100_continue = False

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conn = H2Connection(h2_config(True))
        self.conn.encoder = Encoder()
        self.conn.local_settings = Settings(client=True, initial_values={SettingCodes.ENABLE_PUSH: 0})
        self.conn.initiate_connection()
        self.lock = Semaphore()
        self.window = Flag()
        self.events: deque[Any] = deque()
        self.stream_id: int | None = None
        self.pending: list[tuple[str, str]] | None = None  # a request head waiting to know if a body follows
        self.our_state: State = IDLE
        self.their_state: State = IDLE
        self.eof = False
        self.failed: str | None = None
        self.bodyless = False
        self.settings_seen = False
        self.switched = False
        self.protocol: str | None = None  # an Upgrade sent as extended CONNECT
        self.client_key: str | None = None

    # Sending (the stream's calls; each writes its frames at once).

    def send(self, event: Any) -> bytes:
        kind = type(event)
        try:
            if kind is Request:
                self._request(event)
            elif kind is Data:
                self._send_headers(False)
                self._data(event.data)
            elif kind is EndOfMessage:
                self._end(event)
            elif kind is ConnectionClosed:
                return b""
        except H2Error as exc:
            raise LocalProtocolError(f"HTTP/2: {exc}") from None
        self._write()
        return b""

    def _request(self, event: Request) -> None:
        head = event.head
        if self.our_state is not IDLE:
            raise LocalProtocolError("a request is already under way on this HTTP/2 connection")
        self.stream_id = self.conn.get_next_available_stream_id()
        self.bodyless = head.method == "HEAD"
        scheme = "https" if hasattr(self.sock, "selected_alpn_protocol") else "http"
        self.pending = request_fields(head, scheme)
        self.our_state = SEND_BODY
        self.their_state = SEND_RESPONSE
        upgrade = head.headers.get_values("upgrade")
        if upgrade and "upgrade" in {v.lower() for v in head.headers.get_values("connection")}:
            self._extended_connect(head, upgrade[0])
            return
        length = head.headers.get_all("content-length")
        if head.headers.contains("transfer-encoding") or (length and length != ["0"]):
            self._send_headers(False)  # a body follows, perhaps late (100-continue): the server sees the head now

    def _extended_connect(self, head: RequestHead, protocol: str) -> None:
        """An HTTP/1 Upgrade becomes RFC 8441's CONNECT with :protocol, when the server's SETTINGS allow it;
        otherwise the stream is reset unopened and the client gets a 502, as from haproxy."""
        self.protocol = protocol
        self.client_key = (head.headers.get_all("sec-websocket-key") or [None])[0]
        self._await_settings()
        if not self.conn.remote_settings.enable_connect_protocol:
            self.pending = None
            self.our_state = DONE
            self.failed = "the server does not accept extended CONNECT"
            frame = RstStreamFrame(self.stream_id)
            frame.error_code = ErrorCodes.REFUSED_STREAM
            with self.lock:
                send_all(self.sock, self.conn.data_to_send() + frame.serialize())
            return
        skipped = ("sec-websocket-key", "sec-websocket-version") if protocol == "websocket" else ()
        fields = [(":method", "CONNECT"), (":scheme", "https"), (":path", head.target or "/")]
        fields += [f for f in self.pending or () if f[0] == ":authority"]
        fields.append((":protocol", protocol))
        fields += [f for f in self.pending or () if not f[0].startswith(":") and f[0] not in skipped]
        self.pending = fields
        self._send_headers(False)
        self.our_state = DONE  # the request's body is the tunnel's, after the switch

    def _await_settings(self) -> None:
        """Read until the server's first SETTINGS came (a new connection), within the socket's timeout."""
        while not self.settings_seen and self.failed is None and not self.eof:
            self._write()
            try:
                data = self.sock.recv(READ_SIZE)
            except OSError:
                data = b""
            self.receive_data(data)

    def _send_headers(self, end: bool) -> None:
        fields, self.pending = self.pending, None
        if fields is not None and self.stream_id is not None:
            self.conn.send_headers(self.stream_id, fields, end_stream=end)

    def _data(self, data: bytes) -> None:
        """Body bytes as the server's windows allow, waiting for a WINDOW_UPDATE (which the response relay
        reads) within the socket's timeout."""
        view = memoryview(data)
        sid = self.stream_id
        assert sid is not None
        while view:
            size = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size, len(view))
            if size <= 0:
                self._write()
                if self.failed is not None or not self.window.wait(self.sock.timeout):
                    raise OSError("the server's window stayed closed")
                continue
            self.conn.send_data(sid, view[:size].tobytes())
            view = view[size:]

    def _end(self, event: EndOfMessage) -> None:
        if self.our_state is DONE:
            return
        self.our_state = DONE
        if self.pending is not None:
            self._send_headers(True)
        elif event.trailers:
            self.conn.send_headers(self.stream_id, [(n.lower(), v) for n, v in event.trailers], end_stream=True)
        else:
            self.conn.end_stream(self.stream_id)

    def _write(self) -> None:
        with self.lock:
            data = self.conn.data_to_send()
            if data:
                send_all(self.sock, data)

    # Receiving (the relay's calls).

    def receive_data(self, data: bytes) -> None:
        if not data:
            self.eof = True
            return
        try:
            events = self.conn.receive_data(data)
        except H2Error as exc:
            self.failed = f"HTTP/2 error from the server: {exc}"
            events = []
        for event in events:
            self._on(event)
        try:
            self._write()
        except OSError:
            self.eof = True

    def _on(self, event: Any) -> None:
        kind = type(event)
        if kind is WindowUpdated or kind is RemoteSettingsChanged:
            self.settings_seen = self.settings_seen or kind is RemoteSettingsChanged
            flag, self.window = self.window, Flag()
            flag.set()
            return
        if kind is ConnectionTerminated:
            self.eof = True
            if self.their_state is not DONE and (event.last_stream_id or 0) < (self.stream_id or 0):
                self.failed = "the server refused the stream (GOAWAY)"
            return
        if getattr(event, "stream_id", None) != self.stream_id:
            return
        if kind is ResponseReceived:
            self._response(event)
        elif kind is InformationalResponseReceived:
            try:
                self.events.append(InformationalResponse(response_head(event.headers)))
            except (MalformedMessage, LocalProtocolError) as exc:
                self.failed = str(exc)
        elif kind is DataReceived:
            if event.flow_controlled_length:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if event.data:
                self.events.append(Data(event.data))
            if event.stream_ended is not None:
                self._ended()
        elif kind is TrailersReceived:
            self.events.append(EndOfMessage(trailer_headers(event.headers)))
            self.their_state = DONE
        elif kind is StreamEnded:
            self._ended()
        elif kind is StreamReset:
            self.failed = f"the server reset the stream ({event.error_code!r})"

    def _response(self, event: ResponseReceived) -> None:
        try:
            head = response_head(event.headers)
            response = Response(head)
        except (MalformedMessage, LocalProtocolError) as exc:
            self.failed = str(exc)
            return
        ended = event.stream_ended is not None
        if self.protocol is not None and 200 <= head.status < 300:
            self.events.append(InformationalResponse(self._switching(head)))
            self.switched = True
            self.their_state = SEND_BODY
            if ended:  # the tunnel's server half is closed already
                self.events.append(EndOfMessage())
            return
        if not ended and not self.bodyless and not head.headers.contains("content-length") \
                and head.status not in (204, 304):
            head.headers.add("transfer-encoding", "chunked")  # how an HTTP/1 client learns where it ends
        self.events.append(response)
        self.their_state = SEND_BODY
        if ended:
            self._ended()

    def _switching(self, head: ResponseHead) -> ResponseHead:
        """The server's 2xx to an extended CONNECT, as the 101 an HTTP/1 client waits for."""
        fields = [(n, v) for n, v in head.headers if n.lower() not in ("content-length",)]
        fields += [("connection", "upgrade"), ("upgrade", self.protocol or "")]
        if self.protocol == "websocket" and self.client_key:
            fields.append(("sec-websocket-accept", websocket_accept(self.client_key)))
        return ResponseHead(101, "Switching Protocols", "HTTP/1.1", Headers(fields))

    def tunnel_socket(self) -> H2TunnelSocket:
        return H2TunnelSocket(self)

    def _ended(self) -> None:
        if self.their_state is not DONE:
            self.their_state = DONE
            self.events.append(EndOfMessage())

    def next_event(self) -> Any:
        if self.switched and not (self.events and type(self.events[0]) is InformationalResponse):
            return PAUSED  # what follows is the tunnel's (H2TunnelSocket)
        if self.events:
            return self.events.popleft()
        if self.failed is not None:
            raise RemoteProtocolError(self.failed, 502)
        if self.eof:
            if self.their_state is IDLE or self.their_state is DONE:
                return ConnectionClosed()
            raise RemoteProtocolError("the server closed the HTTP/2 connection", 502)
        return NEED_DATA

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        return b"", self.eof

    def receive_whole(self, data: bytes) -> None:
        """Never a whole response: an HTTP/2 response comes as its frames' events, not as one HTTP/1 piece to
        relay as read (Connection.receive_whole); *data* is received as ``receive_data`` does."""
        self.receive_data(data)

    def next_cycle(self) -> bool:
        """Start the next exchange if this one is complete on both sides (Connection.next_cycle's answer)."""
        if self.our_state is not DONE or self.their_state is not DONE:
            return False
        self.start_next_cycle()
        return True

    def start_next_cycle(self) -> None:
        """Pooled after a complete exchange: the next request opens the next stream."""
        self.stream_id = None
        self.our_state = self.their_state = IDLE
        self.events.clear()


class H2TunnelSocket:
    """recv/sendall/shutdown over the stream of an accepted extended CONNECT (worker.tunnel relays it)."""

    def __init__(self, http: H2ServerHttp) -> None:
        self.http = http
        self.pending = b""

    def settimeout(self, timeout: float | None) -> None:
        self.http.sock.settimeout(timeout)

    def recv(self, size: int) -> bytes:
        http = self.http
        while not self.pending:
            if http.events:
                event = http.events.popleft()
                if type(event) is Data:
                    self.pending = event.data
                elif type(event) is EndOfMessage:
                    return b""
                continue
            if http.failed is not None or http.eof:
                return b""
            http.receive_data(http.sock.recv(READ_SIZE))
        data, self.pending = self.pending[:size], self.pending[size:]
        return data

    def sendall(self, data: bytes) -> None:
        try:
            self.http._data(data)
            self.http._write()
        except H2Error as exc:
            raise OSError(str(exc)) from None

    def shutdown(self, how: int) -> None:
        http = self.http
        try:
            if how == socket.SHUT_WR:
                http.conn.end_stream(http.stream_id)
            else:
                http.conn.reset_stream(http.stream_id, ErrorCodes.CANCEL)
            http._write()
        except H2Error:
            pass
        if how != socket.SHUT_WR:
            http.sock.shutdown(how)
