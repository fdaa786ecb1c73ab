"""One HTTP/2 request stream running HttpStream's transaction path unchanged.

Only the client I/O differs: the front is a StreamFront (the session reads
the socket and queues the client's events; what the stream sends is framed
and written at once), the connection is the session's, and a stream serves
one request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from h2.errors import ErrorCodes

from ..http.events import Data, InformationalResponse
from ..http.message import RequestHead, ResponseHead
from ..http.pages import Reply
from ..http.stream import HttpStream, ServerFailed
from ..proxy import Proxy
from ..txn import Transaction
from .convert import H2_VERSION, origin_form, parse_raw_response
from .front import StreamFront
from .tunnel import StreamSocket
from .websocket import websocket_accept, websocket_key

if TYPE_CHECKING:
    from .session import H2Session

CONTINUE = b"HTTP/1.1 100 "


class H2Stream(HttpStream):
    __slots__ = ("session", "websocket_key")

    def __init__(self, session: H2Session, front: StreamFront) -> None:
        super().__init__(session.worker, session.frontend, session.client, session.so_id, session.pool)
        self.session = session
        self.websocket_key: str | None = None
        self.front = front  # type: ignore[assignment]
        self.direct = None  # the session reads the socket
        self.session_vars = session.session_vars
        self.requests = session.streams  # the session's earlier requests (http-reuse safe counts them)
        session.streams += 1

    def serve(self) -> bool:
        """The connection is the session's: no session rules, no connection counters here."""
        return self._run(False)

    def _close(self) -> None:
        self._drop_server()
        if self.own_pool is not None:
            self.own_pool.close_all()
        self.trackers.end_session()
        self.session.stream_done(self.front)  # type: ignore[arg-type]

    def _next_cycle(self) -> bool:
        return False

    def _recv_client(self, timeout: float | None, tried: bool = False, timer: Any = None) -> bytes:
        """Wait for the client's next frames on this stream (the session queued their events); b"" once
        the stream is gone.  The bytes themselves are the session's: what is returned only says "more"
        (nor is a socket read: *tried* and *timer* mean nothing here)."""
        front: StreamFront = self.front  # type: ignore[assignment]
        if not front.wait(timeout):
            raise TimeoutError
        return b"" if front.gone and not front.events else b"\0"

    def _end(self, txn: Transaction, termination: str | None = None) -> None:
        """The transaction's byte counts are its stream's body bytes, each way (one transaction a stream)."""
        front: StreamFront = self.front  # type: ignore[assignment]
        txn.bytes_out += front.sent_bytes
        txn.bytes_in += front.received
        super()._end(txn, termination)

    def _send_client(self, data: bytes) -> None:
        """The front wrote everything already; what comes here are HTTP/1 bytes made without the front
        (a 100 Continue, an errorfile, Lua's txn.res:send): said again in HTTP/2."""
        if not data:
            return
        if data.startswith(CONTINUE):
            self.front.send(InformationalResponse(ResponseHead(100, "Continue")))
            return
        self._send_raw(data)

    def _send_raw(self, data: bytes) -> None:
        parsed = parse_raw_response(data)
        if parsed is None:
            self.session.reset(self.front.stream_id, ErrorCodes.INTERNAL_ERROR)  # type: ignore[attr-defined]
            return
        head, body = parsed
        super()._send_reply(Reply(head.status, list(head.headers), body, reason=head.reason))

    def _send_reply(self, reply: Reply) -> bool:
        if reply.raw is not None:
            if self.txn is not None:
                self.txn.status = reply.status
            if reply.raw:
                self._send_raw(reply.raw)
            else:  # a silent close: the stream alone goes
                self.session.reset(self.front.stream_id, ErrorCodes.CANCEL)  # type: ignore[attr-defined]
            return False
        super()._send_reply(reply)
        return False

    def _send_request(self, txn: Transaction, backend: Proxy, head: RequestHead) -> None:
        """An HTTP/1 server gets HTTP/1.1, its body chunked when no content-length sizes it, as HAProxy
        sends an h2 request; the transaction keeps seeing version 2.0."""
        if head.version != H2_VERSION:
            super()._send_request(txn, backend, head)
            return
        front: StreamFront = self.front  # type: ignore[assignment]
        framing = self._h1_framing(head)
        target, method = head.target, head.method
        head.version, head.target = "HTTP/1.1", origin_form(target)
        added = [framing] if framing is not None else []
        if front.protocol is not None:
            # RFC 8441's CONNECT to an HTTP/1 server: the Upgrade GET it stands for, with a key of ours
            head.method = "GET"
            added += [("connection", "upgrade"), ("upgrade", front.protocol)]
            if front.protocol == "websocket" and not head.headers.contains("sec-websocket-key"):
                self.websocket_key = websocket_key()
                added.append(("sec-websocket-key", self.websocket_key))
            self.upgrade_connection = "upgrade"
        for field in added:
            head.headers.add(*field)
        try:
            super()._send_request(txn, backend, head)
        finally:
            head.version, head.target, head.method = H2_VERSION, target, method
            for name, _ in added:
                head.headers.remove(name)

    def _response_head(self, txn: Transaction, backend: Proxy, head: ResponseHead, sent_at: float,
                       server_counters: Any) -> ResponseHead:
        """The switch an HTTP/1 server accepts must answer our WebSocket key, else 502 as in haproxy."""
        if head.status == 101 and self.websocket_key is not None and head.headers.get_all(
                "sec-websocket-accept") != [websocket_accept(self.websocket_key)]:
            raise ServerFailed(502)
        return super()._response_head(txn, backend, head, sent_at, server_counters)

    def _tunnel_client(self) -> Any:
        return StreamSocket(self.front)  # type: ignore[arg-type]

    def _h1_framing(self, head: RequestHead) -> tuple[str, str] | None:
        """The field that frames the body for HTTP/1 when the client sent no content-length: the body's
        size once it is all here, else chunked; nothing for a request without a body."""
        front: StreamFront = self.front  # type: ignore[assignment]
        if front.length is not None or front.ended_at_head or head.method == "CONNECT":
            return None
        if not front.ended:
            return ("transfer-encoding", "chunked")
        size = sum(len(event.data) for event in (*self.body_ahead, *front.events) if type(event) is Data)
        return ("content-length", str(size)) if size or head.method not in ("GET", "HEAD") else None

