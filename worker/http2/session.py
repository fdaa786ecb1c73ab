"""One HTTP/2 client connection: the greenlet that owns its socket and h2 state machine.

It reads frames, hands each new request stream to an :class:`~.stream.H2Stream`
greenlet through a :class:`~.front.StreamFront`, and writes what the streams
frame (one writer at a time: HPACK blocks must leave in the order they were
encoded).  Limits: ``MAX_CONCURRENT_STREAMS`` caps the streams, each stream's
receive window caps the body bytes it holds, ``MAX_HEADER_LIST_SIZE`` (the
buffer size) caps a header block, and an idle connection ends after the
keep-alive (else client) timeout with a GOAWAY.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import gevent
from gevent.event import Event as Flag
from gevent.lock import Semaphore
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    RequestReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from h2.exceptions import H2Error
from h2.settings import SettingCodes, Settings

from ..channel import Channel
from ..context import WorkerContext
from ..http.message import Headers, RequestHead
from ..http.plan import plan_of
from ..netutil import recv_within, send_all, shutdown_both
from ..proxy import Proxy
from ..rules.evaluate import run_session_rules
from ..rules.verdict import Verdict
from ..sticktable.tracking import Trackers
from ..txn import Transaction
from .convert import H2_VERSION, BadRequest, MalformedMessage, request_head
from .front import StreamFront
from .settings import Encoder, h2_config
from .stream import H2Stream

READ_SIZE = 65536
PREFACE_HEAD = b"PRI * HTTP/2.0\r\n\r\n"
"""What an HTTP/1 parser takes for a request head in HTTP/2's connection preface (the rest is ``SM\r\n\r\n``)."""
MAX_CONCURRENT_STREAMS = 100
"""haproxy's tune.h2.max-concurrent-streams default."""
INITIAL_WINDOW_SIZE = 65535
HEADER_TABLE_SIZE = 4096
MAX_FRAME_SIZE = 16384


def _unchecked(*_args: object) -> None:
    """In place of h2's content-length checks (see Connection)."""


class Connection(H2Connection):
    """h2's connection with two checks left to us, as stream errors where h2 would end the whole
    connection: a body's length against its content-length (StreamFront, convert), and a stream beyond
    the advertised limit (H2Session._request refuses it with REFUSED_STREAM)."""

    @property
    def open_inbound_streams(self) -> int:
        """Read by h2 only to refuse a stream over the limit; the session counts its own.  Counting is
        also when h2 forgets closed streams: it still counts, so that they do not pile up."""
        super().open_inbound_streams  # noqa: B018
        return 0

    def _begin_new_stream(self, stream_id: int, allowed_ids: Any) -> Any:
        stream = super()._begin_new_stream(stream_id, allowed_ids)
        stream._initialize_content_length = _unchecked
        stream._track_content_length = _unchecked
        return stream


class H2Session:
    """An HTTP/2 client connection and its streams."""

    def __init__(self, worker: WorkerContext, frontend: Proxy, client: socket.socket, so_id: int,
                 pool: Any, on_close: Any = None, received: bytes = b"", session_vars: Any = None) -> None:
        self.worker = worker
        self.frontend = frontend
        self.plan = frontend.plan or plan_of(frontend)
        self.client = client
        self.so_id = so_id
        self.pool = pool
        self.on_close = on_close
        self.received = received
        self.conn = Connection(h2_config(False))
        self.conn.encoder = Encoder()
        tune = worker.tune
        self.max_streams = int(tune.get("tune.h2.max-concurrent-streams", MAX_CONCURRENT_STREAMS))
        self.conn.local_settings = Settings(client=False, initial_values={
            SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams,
            SettingCodes.INITIAL_WINDOW_SIZE: int(tune.get("tune.h2.initial-window-size", INITIAL_WINDOW_SIZE)),
            SettingCodes.HEADER_TABLE_SIZE: int(tune.get("tune.h2.header-table-size", HEADER_TABLE_SIZE)),
            SettingCodes.MAX_FRAME_SIZE: int(tune.get("tune.h2.max-frame-size", MAX_FRAME_SIZE)),
            SettingCodes.MAX_HEADER_LIST_SIZE: worker.bufsize,
            SettingCodes.ENABLE_CONNECT_PROTOCOL: 1,
        })
        self.fronts: dict[int, StreamFront] = {}
        self.greenlets: set[gevent.Greenlet] = set()
        self.write_lock = Semaphore()
        self.window = Flag()
        self.closed = False
        self.session_vars = session_vars if session_vars is not None else worker.new_vars()
        self.trackers = Trackers()
        self.streams = 0
        self.idle_since = time.monotonic()
        self.draining = False  # GOAWAY sent: the connection ends with its last stream

    # The connection's life.

    def serve(self) -> bool:
        """Serve the connection, then close it."""
        fe = self.frontend
        fe.current_conns += 1
        fe.fe_counters.open()
        try:
            if self._admitted():
                self.run()
        finally:
            fe.current_conns -= 1
            fe.fe_counters.close()
            self.client.close()
            if self.on_close is not None:
                self.on_close()
        return False

    def _admitted(self) -> bool:
        """``tcp-request connection`` and ``session`` rules, once per connection as for HTTP/1 (their stick
        counters stay the connection's: each stream tracks its own)."""
        if not self.plan.session_rules:
            return True
        txn = Transaction(self.client, self.frontend, Channel("req", 0), Channel("res", 0), self.worker.logger,
                          self.so_id, self.worker.proxies, self.worker.process, self.session_vars)
        txn.stkctr = self.trackers
        if run_session_rules(self.frontend, txn) is Verdict.ACCEPT:
            return True
        self.frontend.fe_counters.denied_conn += 1
        return False

    def run(self) -> None:
        """Serve the connection's streams until it ends (the caller closes it)."""
        self.worker.idle_clients.add(self)  # a soft stop sends GOAWAY (close)
        try:
            self._run()
        finally:
            self.worker.idle_clients.discard(self)
            self._stop_streams()
            self.trackers.end_session()

    def _read_timeout(self) -> float | None:
        """The idle limit (keep-alive, else client timeout) still left, checked again once streams end."""
        limit = self.plan.keep_alive or self.plan.client
        if limit is None or self.fronts:
            return limit
        return max(limit - (time.monotonic() - self.idle_since), 0.0)

    def _idle_for_too_long(self) -> bool:
        limit = self.plan.keep_alive or self.plan.client
        return limit is not None and time.monotonic() - self.idle_since >= limit

    def _run(self) -> None:
        self.conn.initiate_connection()
        data, self.received = self.received, b""
        try:
            self.flush()
            while not self.closed:
                if data:
                    self.frontend.fe_counters.bytes_in += len(data)
                    try:
                        events = self.conn.receive_data(data)
                    except H2Error:
                        break  # h2 queued a GOAWAY
                    finally:
                        self.flush()
                    for event in events:
                        self._dispatch(event)
                    self.flush()
                if self.worker.stopping and not self.fronts:
                    self.conn.close_connection()
                    break
                try:
                    data = recv_within(self.client, READ_SIZE, self._read_timeout())
                except TimeoutError:
                    if self.fronts or not self._idle_for_too_long():
                        data = b""
                        continue  # the streams bound their own waits
                    self.conn.close_connection()
                    break
                except OSError:
                    break
                if not data:
                    break
            self.flush()
        except OSError:
            pass

    def close(self) -> None:
        """A soft stop: GOAWAY now; the connection ends once its running streams have (at once when idle)."""
        self.draining = True
        try:
            self.conn.close_connection()
            self.flush()
        except (H2Error, OSError):
            pass
        if not self.fronts:
            shutdown_both(self.client)

    def _stop_streams(self) -> None:
        """The connection ended: wake every stream (its client is gone) and give them the client timeout to
        finish their books."""
        self._lost()
        gevent.joinall(list(self.greenlets), timeout=self.plan.client or 5)
        gevent.killall(list(self.greenlets), block=False)
        self._flush_quietly()

    # Frames from the client.

    def _dispatch(self, event: Any) -> None:
        kind = type(event)
        if kind is DataReceived:
            self._data(event)
        elif kind is RequestReceived:
            self._request(event)
        elif kind is StreamEnded:
            front = self.fronts.get(event.stream_id)
            if front is not None and not front.on_end():
                self.reset(front.stream_id)
        elif kind is TrailersReceived:
            front = self.fronts.get(event.stream_id)
            if front is not None:
                front.on_end(event.headers)
                front.ended = True
        elif kind is StreamReset:
            front = self.fronts.get(event.stream_id)
            if front is not None:
                front.on_error(400)
        elif kind is WindowUpdated or kind is RemoteSettingsChanged:
            self._window_opened()
        elif kind is ConnectionTerminated:
            self.closed = True

    def _request(self, event: RequestReceived) -> None:
        sid = event.stream_id
        ended = event.stream_ended is not None
        if self.draining or len(self.greenlets) >= self.max_streams:
            # Streams the client reset at once still run until they notice: they count too, so that
            # opening and resetting streams without end cannot pile transactions up.
            self.reset(sid, ErrorCodes.REFUSED_STREAM)
            return
        try:
            head, length, protocol = request_head(event.headers, ended)
        except MalformedMessage:
            self.reset(sid)
            return
        except BadRequest:
            head, length, protocol, refused = RequestHead("GET", "/", H2_VERSION), None, None, 400
        else:
            refused = None
        front = StreamFront(self, sid, head, length, refused)
        if head.method == "CONNECT" and refused is None:
            front.open_tunnel(protocol)
        if ended and refused is None and not front.on_end():
            self.reset(sid)
            return
        self.fronts[sid] = front
        stream_greenlet = gevent.spawn(H2Stream(self, front).serve)
        self.greenlets.add(stream_greenlet)
        stream_greenlet.link(self.greenlets.discard)

    def _data(self, event: DataReceived) -> None:
        sid, size = event.stream_id, event.flow_controlled_length
        if size:
            # The connection's window reopens at once (a slow stream must not stall the others); each
            # stream's own window reopens as it consumes its body (StreamFront.next_event).
            self.conn.increment_flow_control_window(size)
        front = self.fronts.get(sid)
        if front is None or front.gone:
            return
        if not front.on_data(event.data):
            self.reset(sid)
        if event.stream_ended is not None and not front.ended and not front.on_end():
            self.reset(sid)

    def _window_opened(self) -> None:
        flag, self.window = self.window, Flag()
        flag.set()

    # What streams call.

    def consumed(self, stream_id: int, size: int) -> None:
        """A stream took *size* body bytes: reopen its window, even after the client's END_STREAM, as
        haproxy does."""
        if size:
            try:
                self.conn.increment_flow_control_window(size, stream_id=stream_id)
            except H2Error:
                return
            self._flush_quietly()

    def send_headers(self, stream_id: int, fields: list[tuple[str, str]], end: bool) -> None:
        self.conn.send_headers(stream_id, fields, end_stream=end)
        self.flush()

    def send_data(self, stream_id: int, data: bytes) -> None:
        """Send body bytes as the client's windows allow, waiting for them within the client timeout."""
        view = memoryview(data)
        conn = self.conn
        while view:
            if self.closed:
                raise OSError("connection closed")
            size = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size, len(view))
            if size <= 0:
                self.flush()
                if not self.window.wait(self.plan.client):
                    raise OSError("client window stayed closed")
                continue
            conn.send_data(stream_id, view[:size].tobytes())
            view = view[size:]
        self.flush()

    def end_stream(self, stream_id: int, trailers: Headers) -> None:
        if trailers:
            self.conn.send_headers(stream_id, [(n.lower(), v) for n, v in trailers], end_stream=True)
        else:
            self.conn.end_stream(stream_id)
        self.flush()

    def _lost(self) -> None:
        """The client cannot be written to: every stream learns it (its next send fails)."""
        self.closed = True
        for front in list(self.fronts.values()):
            front.on_error(400)
        self.window.set()

    def reset(self, stream_id: int, code: ErrorCodes = ErrorCodes.PROTOCOL_ERROR) -> None:
        front = self.fronts.pop(stream_id, None)
        if front is not None:
            front.on_error(400)
        try:
            self.conn.reset_stream(stream_id, code)
        except H2Error:
            return
        self._flush_quietly()

    def stream_done(self, front: StreamFront) -> None:
        """A stream's transaction ended: reset it if either side is unfinished."""
        sid = front.stream_id
        if self.fronts.get(sid) is front:
            del self.fronts[sid]
        if not self.fronts:
            self.idle_since = time.monotonic()
            if self.draining:
                shutdown_both(self.client)
        if self.closed or front.gone:
            return
        if not front.response_done:
            self.reset(sid, ErrorCodes.INTERNAL_ERROR)
        elif not front.ended:
            self.reset(sid, ErrorCodes.NO_ERROR)

    def flush(self) -> None:
        """Write what the h2 connection framed; one writer at a time keeps the frames in order."""
        with self.write_lock:
            data = self.conn.data_to_send()
            if data:
                send_all(self.client, data)
                self.frontend.fe_counters.bytes_out += len(data)

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except OSError:
            self.closed = True

