"""An HTTP-mode stream: one client connection, its requests one after another.

The sans-I/O core (``Connection``) parses and frames; this module does the
I/O around it: read a request head, run the rules, pick a server, stream the
body both ways (never buffering it whole), answer errors with HAProxy's
statuses and pages, and keep both sides alive when HTTP allows.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent import socket as gsocket

from .. import webstats
from ..backend import cookie
from ..backend.connect import acquire_server, connect_server, connection_key
from ..channel import Channel
from ..context import WorkerContext
from ..counters import CLASS_OF_STATUS, Counters
from ..filters import chain as filters
from ..http2.choice import server_http, tunnel_end, websocket_mode
from ..netutil import input_poll, recv_within, send_all, shutdown_both
from ..proxy import Proxy
from ..rules.actions_http_flow import SILENT_CLOSE
from ..rules.evaluate import run_rules, run_session_rules
from ..rules.restrict_headers import restrict_header_names
from ..rules.verdict import ACCEPT, ERROR, REJECT, Verdict
from ..samples import Vars
from ..sticktable.persistence import store_response
from ..sticktable.tracking import UNTRACKED, Trackers
from ..tunnel import Tunnel
from ..txn import Addresses, Transaction, addresses_of, request_transaction
from . import body_wait, splicing
from .abort_watch import ClientAborted, abort_phase, watch_client
from .connection import Connection
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    END_OF_MESSAGE,
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    InformationalResponse,
    Request,
    Response,
)
from .grammar import at_least_http11, names_valid, values_valid
from .message import Headers, RequestHead, ResponseHead
from .pages import BODILESS, FRAMING_FIELDS, Reply, error_page, logged_size, reason
from .park import PARK_AFTER, Parking
from .plan import HttpPlan, plan_of
from .server_pool import ServerConnection, ServerPool, count_request_bytes
from .state import DONE, SERVER
from .writers import checked_response, chunked_whole

READ_SIZE = 65536
_READ_INTO = bytearray(READ_SIZE)
"""What ``_read_request`` reads into, one for the worker (nothing waits between a read and the copy of what
it read): a ``recv`` makes a READ_SIZE bytes object, then shrinks it to what came (a large malloc and a
realloc, about 300 machine instructions more a request under callgrind, in process: 53.2k against 52.9k)."""
_new_object = object.__new__
PARKED = object()
"""_read_request's answer when the connection was parked idle (its greenlet ends, the stream lives on)."""
MAXREWRITE = 1024
DRAIN_LIMIT = 32 * 1024 * 1024
"""Request body bytes we read and drop once the server stopped taking them, so the client gets its answer."""
REQUESTS_PER_TURN = 4
"""Requests a keep-alive connection may serve in a row before letting the others run."""
READY_STREAK = 8
"""Reads in a row that found the client's bytes there, after which the next is tried without a poll first: a
poll costs about 1k machine instructions, a read that finds nothing about 6k more, so the streak pays while
fewer than one read in six finds nothing, and costs next to nothing when reads find nothing more often."""
_LENGTH_ONLY = frozenset({"content-length"})
_BODILESS_END = [END_OF_MESSAGE]
"""What the usual request, without a body, left in ``body_ahead`` (compared with, never changed): an answer of
our own leaves it there, and the next request's read clears it."""


class ClientGone(Exception):
    """The client closed or reset: nothing more can be sent to it."""


class ServerFailed(Exception):
    """The exchange with the server failed; *status* is what the client gets if nothing was sent yet."""

    def __init__(self, status: int, reply: Reply | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.reply = reply  # a response rule's own answer (deny, redirect, return, reject): sent as is


class HttpStream:
    __slots__ = ("addresses", "attached", "body_ahead", "body_pump", "checked_backend", "client", "conn_pool",
                 "direct", "front", "frontend", "on_close", "own_pool", "parked", "plain_backend", "plan", "pool",
                 "read_timer", "readable", "ready_reads", "request_error", "request_started", "requests",
                 "response_ahead", "server", "session_vars", "slot", "so_id", "trackers", "txn", "txn_vars",
                 "upgrade_connection", "worker")
    """Slots: one stream per client connection, 10,000 idle ones included."""

    def __init__(self, worker: WorkerContext, frontend: Proxy, client: socket.socket, so_id: int,
                 pool: ServerPool, conn_pool: Any = None, on_close: Callable[[], None] | None = None,
                 addresses: Addresses | None = None) -> None:
        self.worker = worker
        self.conn_pool = conn_pool
        """The listener's Slots (maxconn): a parked stream keeps its slot there (worker.http.park)."""
        self.on_close = on_close
        """Called once the connection is closed (the worker's session table, the debug trace)."""
        self.parked: Parking | None = None
        self.slot: Any = None
        self.frontend = frontend
        self.plan = frontend.plan or plan_of(frontend)
        self.client = client
        self.direct = client._sock if type(client) is gsocket.socket else None  # type: ignore[attr-defined]
        """The plain socket under a plain gevent one, read directly while a read need not wait, of an HTTP/1
        stream (an HTTP/2 one reads its session's events): None for any other."""
        self.so_id = so_id
        self.pool = pool
        self.own_pool: ServerPool | None = None  # this session's idle server connections (http-reuse never)
        self.requests = 0
        self.front = Connection(SERVER, max_head_size=max(worker.bufsize - MAXREWRITE, 1024))
        self.server: ServerConnection | None = None
        self.attached: Any = None
        """The server this connection was last noted against (worker.backend.attached): noted again only
        when a request goes to another one."""
        self.checked_backend: Proxy | None = None
        self.plain_backend: Proxy | None = None
        """The last backend checked by ``_plain`` and, if it was plain, the same (else None)."""
        self.body_pump: gevent.Greenlet | None = None
        self.readable: Any = None
        """The poll that tells whether the client's next bytes are there (_polled_ready); dropped when parked."""
        self.ready_reads = 0
        """How many reads in a row found the client's bytes there, up to READY_STREAK (_polled_ready)."""
        self.read_timer: Any = None
        """The PARK_AFTER timer of the waits for the next request (_park_timer); dropped when parked."""
        self.body_ahead: list[Any] = []
        """Request body events taken before the rules (req.body), replayed before reading more (a few: a
        list, lighter than a deque for every idle connection)."""
        self.response_ahead: list[Any] = []
        """Response body events read by http-response wait-for-body, relayed before reading more."""
        self.request_error: int | None = None  # the client's body was malformed: the status it gets
        self.session_vars = worker.new_vars()
        self.txn_vars: Vars | None = None
        """The last request's variables: the next one's too when it set none (Vars.next_transaction)."""
        self.txn: Transaction | None = None
        self.request_started = time.monotonic()
        self.addresses = addresses or addresses_of(client)  # the listener's, from accept(), when it knew them
        self.upgrade_connection: str | None = None
        self.trackers = Trackers()
        if client.timeout != self.plan.client:
            client.settimeout(self.plan.client)  # what bounds a send; each read has its own deadline

    # The connection's life.

    def serve(self) -> bool:
        """Serve the connection from its first request; True when it lives on, parked idle (the caller
        must not close the socket: the stream does once it ends)."""
        fe = self.frontend
        fe.current_conns += 1
        fe.fe_counters.open()
        return self._run(True)

    def _run(self, first: bool) -> bool:
        parked = False
        try:
            if first and self.plan.session_rules:
                txn = self._session_txn()
                if run_session_rules(self.frontend, txn) is not ACCEPT:
                    self.frontend.fe_counters.denied_conn += 1
                    return False
                self.addresses = (txn.src, txn.src_port), (txn.dst, txn.dst_port)  # the session's, from now on
            parked = self._serve(first)
        except (ClientGone, filters.FilterAborted):
            if self.txn is not None:
                self._end(self.txn, "CD")
        finally:
            if not parked:
                self._close()
        return parked

    def _close(self) -> None:
        fe = self.frontend
        fe.current_conns -= 1
        fe.fe_counters.close()
        self._drop_server()
        self._drop_read_waits()
        if self.own_pool is not None:
            self.own_pool.close_all()  # http-reuse never: the session's server connections die with it
        self.client.close()
        self.trackers.end_session()
        if self.slot is not None:
            self.conn_pool.release(self.slot)
            self.slot = None
        if self.on_close is not None:
            self.on_close()

    # Idle keep-alive connections give their greenlet up (worker.http.park).

    def _park(self, remaining: float | None) -> bool:
        """Leave the greenlet, watching the client for its next request; False when it cannot."""
        if self.slot is None and self.conn_pool is not None:
            self.slot = self.conn_pool.hold()
            if self.slot is None:
                return False  # the listener is full: this connection keeps its greenlet's slot
        self._drop_read_waits()
        self.parked = Parking(self.client.fileno(), remaining, self._unpark)
        self.worker.idle_clients.add(self)
        return True

    def _drop_read_waits(self) -> None:
        """The poll and the timer of the reads between requests go while the stream parks or once it ends
        (10,000 idle connections hold neither)."""
        self.readable = None
        self.ready_reads = 0
        if self.read_timer is not None:
            self.read_timer.close()
            self.read_timer = None

    def _unpark(self, expired: bool) -> None:
        """From the hub: the next request came, the keep-alive time ran out, or a stop: go on in a greenlet."""
        self.parked = None
        self.worker.idle_clients.discard(self)
        gevent.spawn(self._run, False)

    def close(self) -> None:
        """A soft stop closes idle connections: a parked one wakes up to close itself."""
        if self.parked is not None:
            self.parked.fire(True)

    def _session_txn(self) -> Transaction:
        """What connection-level rules see: the connection, no request yet."""
        txn = Transaction(self.client, self.frontend, Channel("req", 0), Channel("res", 0), self.worker.logger,
                          self.so_id, self.worker.proxies, self.worker.process, self.session_vars,
                          self.addresses)
        txn.stkctr = self.trackers
        return txn

    def _serve(self, first: bool) -> bool:
        """Requests one after another; True when the connection was parked idle."""
        served = 0
        resumed = not first
        loop = gevent.get_hub().loop
        polled = loop.iteration
        while True:
            head = self._read_request(first, resumed)
            if head is PARKED:
                return True
            if head is None:
                return False
            if not self.requests and head.method == "PRI" and head.version == "HTTP/2.0":
                return self._switch_to_h2()
            first = resumed = False
            keep = self._transaction(head)
            if self.txn is not None:
                self._end(self.txn)
            if not keep or not self.front.next_cycle():
                return False
            served += 1
            if served % REQUESTS_PER_TURN == 0:
                # A fast client's next request is often here before we read it, so reading
                # never waits: give the other connections their turn now and then, unless the
                # event loop polled since the last turn (a read waited: the others had theirs).
                if loop.iteration == polled:
                    gevent.sleep(0)
                polled = loop.iteration

    def _switch_to_h2(self) -> bool:
        """The client opened with HTTP/2's preface (prior knowledge): the connection speaks HTTP/2 from
        here, as haproxy 2.6 switches an HTTP/1 listener's connection; this stream still owns the socket.
        A ``proto h1`` listener answers 400 instead."""
        from ..http2.session import PREFACE_HEAD, H2Session  # http2 builds on this module

        if self.so_id in self.frontend.h1_binds:
            self.frontend.fe_counters.failed_req += 1
            self._send_reply(self.pages.reply(400))
            return False

        H2Session(self.worker, self.frontend, self.client, self.so_id, self.pool,
                  received=PREFACE_HEAD + self.front.trailing_data[0], session_vars=self.session_vars).run()
        return False

    # Reading requests.

    def _read_request(self, first: bool, resumed: bool = False) -> Any:
        """The next request's head; None when the connection ends, PARKED when it was parked idle.
        A *resumed* stream (woken from parking) goes on with the idle time it started before."""
        fe = self.frontend
        if resumed:
            started = self.request_started
        else:
            started = self.request_started = time.monotonic()
            self.txn = None
            if self.body_ahead:
                self.body_ahead.clear()
        front = self.front
        # An HTTP/1 client on a plain socket is read directly while its bytes are there: most reads find the
        # request, and the deadline, parking and idle-client bookkeeping below are only for a read that waits.
        raw = self.direct
        tried = False
        waited = resumed
        received = [front.trailing_data[0]] if front.buffer else []  # for show errors
        while True:
            # Nothing buffered between requests parses to anything but "need data": the direct read comes first.
            if raw is None or front.buffer or front.eof:
                try:
                    head = front.next_request()
                except RemoteProtocolError as exc:
                    fe.fe_counters.failed_req += 1
                    self.worker.captures.record(fe, "{}:{}".format(*self.addresses[0]), b"".join(received))
                    self._send_reply(self.pages.reply(exc.status_hint))
                    return None
                if head is not NEED_DATA:
                    return head
            waiting = not front.buffer
            if waiting and not first and self.worker.stopping:
                return None
            if raw is not None:
                # What is there read at once (b"" once the client closed): after READY_STREAK reads in a row that
                # found bytes there, without asking the poll first (_polled_ready).
                data = None
                if self.ready_reads >= READY_STREAK or self._polled_ready(raw):
                    try:
                        data = _READ_INTO[:raw.recv_into(_READ_INTO)]
                    except BlockingIOError:
                        self.ready_reads = 0
                    except OSError:
                        data = b""
                if data is not None:
                    fe.fe_counters.bytes_in += len(data)
                    head = front.receive_request(data)
                    if head is not None:
                        return head
                    received.append(data)
                    continue
                raw, tried = None, True  # nothing there: wait below
            plan = self.plan
            limit = (plan.request if first else plan.keep_alive) if waiting else plan.request
            # Before the first wait no more than this call's own work has passed since *started*.
            remaining = limit if limit is None or not waited else max(limit - (time.monotonic() - started), 0.0)
            waited = True
            idle = waiting and not first
            parkable = idle and self.direct is not None and (
                remaining is None or remaining > PARK_AFTER)
            if idle:
                self.worker.idle_clients.add(self.client)
            try:
                if parkable:
                    data = self._recv_client(PARK_AFTER, tried, self._park_timer())
                else:
                    data = self._recv_client(remaining, tried)
            except TimeoutError:
                if parkable:  # idle for PARK_AFTER: park, or (no room) wait on
                    if self._park(None if remaining is None else remaining - PARK_AFTER):
                        return PARKED
                    continue
                if not waiting or (first and not plan.ignore_probes):
                    fe.fe_counters.failed_req += 1
                    self._send_reply(self.pages.reply(408))
                return None
            finally:
                tried = False
                if idle:
                    self.worker.idle_clients.discard(self.client)
            head = front.receive_request(data)
            if head is not None:
                return head
            received.append(data)

    def _polled_ready(self, raw: socket.socket) -> bool:
        """Whether the client's bytes are there, asked of its poll (netutil.input_poll) rather than of a read that
        finds nothing, whose exception costs several polls; a run of READY_STREAK polls that found them has
        ``_read_request`` read without asking, until a read finds nothing."""
        readable = self.readable
        if readable is None:
            readable = self.readable = input_poll(raw)
        if readable.poll(0):
            self.ready_reads += 1
            return True
        self.ready_reads = 0
        return False

    def _park_timer(self) -> Any:
        """The event-loop timer of the PARK_AFTER waits between requests: one for the stream while it reads
        (re-armed and stopped by each wait), not one made and closed per request."""
        timer = self.read_timer
        if timer is None:
            timer = self.read_timer = gevent.get_hub().loop.timer(PARK_AFTER, PARK_AFTER)  # see recv_within
        return timer

    def _recv_client(self, timeout: float | None, tried: bool = False, timer: Any = None) -> bytes:
        """The client's next bytes (b"" once it closed); *tried* and *timer*: see recv_within."""
        try:
            data = recv_within(self.client, READ_SIZE, timeout, tried, timer)
        except TimeoutError:
            raise
        except OSError:
            return b""
        self.frontend.fe_counters.bytes_in += len(data)
        if self.txn is not None:
            self.txn.bytes_in += len(data)
        return data

    def _send_client(self, data: bytes) -> None:
        try:
            send_all(self.client, data, self.direct)
        except OSError:
            raise ClientGone from None
        self.frontend.fe_counters.bytes_out += len(data)
        txn = self.txn
        if txn is not None:
            txn.bytes_out += len(data)

    @property
    def pages(self) -> Any:
        return self.frontend.error_pages

    # One transaction.

    def _transaction(self, head: RequestHead) -> bool:
        """Run rules and forward; True when the client connection may serve another request."""
        worker = self.worker
        if worker.trace is not None:
            worker.trace.request(self.client, self.frontend.name, head)
        txn = self.txn = self._new_txn(head)
        txn.t_request = time.monotonic() - self.request_started
        fe, plan = self.frontend, self.plan
        fe.fe_counters.requests += 1
        if fe.monitor_uri is not None and _monitored(fe.monitor_uri, head):
            txn.termination = "LR"
            return self._send_reply(error_page(200))
        whole = self.front.take_body(worker.bufsize)
        if whole is not None:
            # The usual request: no body, or all of it here (what _take_body's loop takes, in one call).
            if whole:
                self.body_ahead.append(Data(whole))
            self.body_ahead.append(END_OF_MESSAGE)
            txn.req_body = whole
        elif not self._take_body(txn, plan.buffer_request):
            return self._body_timeout(txn)
        if plan.tcp_content and run_rules(plan.tcp_content, txn) is not ACCEPT:
            return self._tcp_refused(txn)
        verdict = run_rules(plan.http_request, txn) if plan.http_request else ACCEPT
        backend = None
        if verdict is ACCEPT and txn.service is None:
            backend = txn.routed = fe.choose_backend(txn)
            if backend is not None and (backend is self.plain_backend or (
                    backend is not self.checked_backend and self._plain(backend))):
                txn.backend = backend
                return self._forward_plain(txn, backend)
            if backend is not None and backend is not fe:
                txn.backend = backend
                bplan = backend.plan or plan_of(backend)
                if bplan.buffer_request and not self._take_body(txn, True):
                    return self._body_timeout(txn)
                if bplan.tcp_content and run_rules(bplan.tcp_content, txn) is not ACCEPT:
                    return self._tcp_refused(txn)
                if bplan.http_request:
                    verdict = run_rules(bplan.http_request, txn)
        if verdict is ACCEPT and txn.service is None and (fe.stats is not None or (
                backend is not None and backend.stats is not None)):
            webstats.claim(txn, fe, backend)
        if verdict is ACCEPT and backend is not None and txn.service is None and (
                backend.plan or plan_of(backend)).restrict_names:
            verdict = restrict_header_names(txn, backend)
        if fe.filters is not None or (backend is not None and backend.filters is not None):
            filters.start(txn, fe, backend)
        if txn.service is not None:
            txn.termination = "LR"
            return self._run_service(txn)
        if verdict is not ACCEPT:
            return self._refuse(txn, verdict)
        if backend is None:
            txn.termination = "SC"
            return self._error(503)
        txn.backend = backend
        return self._forward(txn, backend)

    def _plain(self, backend: Proxy) -> bool:
        """Whether nothing configured on the frontend or *backend* acts on a forward once the backend is
        chosen: its request rules and body buffering, stats, header checks, filters, added headers, close
        options, response rules, captures, persistence.  Such a forward skips all those tests; asked once
        each time a connection's requests go to another backend."""
        fe, fplan = self.frontend, self.plan
        bplan = backend.plan or plan_of(backend)
        plain = not (
            (backend is not fe and (bplan.buffer_request or bplan.tcp_content or bplan.http_request))
            or fe.stats is not None or backend.stats is not None or bplan.restrict_names
            or fe.filters is not None or backend.filters is not None
            or fe.unique_id_header or fe.forwarded_headers or backend.forwarded_headers
            or fplan.httpclose or bplan.httpclose or fplan.server_close or bplan.server_close
            or fplan.abortonclose or bplan.abortonclose or fplan.response_rules or bplan.response_rules
            or fe.header_captures or backend.cookie is not None or fplan.after_response or bplan.after_response
            or backend.stick_rules)
        self.checked_backend, self.plain_backend = backend, backend if plain else None
        return plain

    def _take_body(self, txn: Transaction, wait: bool, timeout: float | None = None,
                   at_least: int | None = None) -> bool:
        """Take the request body events already received, so that req.body sees them (HAProxy's
        buffer); with *wait* (option http-buffer-request, wait-for-body), read on until the end of
        the body, *at_least* bytes or a full buffer, bounded by *timeout* (else the request
        timeout).  The events are replayed in order later.  False when the wait timed out.
        The usual request, whole here, was taken in one call by ``_transaction`` before any rule:
        this is for the others."""
        ahead = self.body_ahead
        if ahead and not isinstance(ahead[-1], Data):
            return True
        limit = self.worker.bufsize if at_least is None else min(at_least, self.worker.bufsize)
        body = bytearray(txn.req_body or b"")
        if timeout is None:
            timeout = self.plan.request
        deadline = None if timeout is None or not wait else time.monotonic() + timeout
        waited_out = False
        while len(body) < limit:
            try:
                event = self.front.next_event()
            except RemoteProtocolError as exc:
                ahead.append(exc)
                break
            if event is NEED_DATA:
                if not wait:
                    break
                if not self._await_body(txn, deadline):
                    waited_out = True
                    break
                continue
            ahead.append(event)
            if not isinstance(event, Data):
                break
            body += event.data
        txn.req_body = bytes(body)
        return not waited_out

    def buffered_body(self, txn: Transaction, side: str) -> int:
        """Body bytes of the message held in the buffer now (what a header rewrite must fit beside)."""
        if side == "req":
            return len(txn.req_body or b"")
        ahead = sum(len(event.data) for event in self.response_ahead if isinstance(event, Data))
        return ahead + (len(self.server.http.trailing_data[0]) if self.server is not None else 0)

    def wait_body(self, txn: Transaction, side: str, timeout: float, at_least: int | None) -> bool:
        """wait-for-body: True once the message's body is complete or *at_least* bytes came."""
        if side == "req":
            return self._take_body(txn, True, timeout, at_least)
        if self.server is None or txn.backend is None:
            return True
        return body_wait.wait_response(self.server, txn.backend, self.response_ahead, timeout,
                                       min(at_least or self.worker.bufsize, self.worker.bufsize))

    def _await_body(self, txn: Transaction, deadline: float | None) -> bool:
        """Read more of the body for http-buffer-request; answer Expect: 100-continue ourselves."""
        if self.front.they_are_waiting_for_100_continue:
            self._send_client(b"HTTP/1.1 100 Continue\r\n\r\n")
            txn.request.headers.remove("expect")
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return False
        try:
            self.front.receive_data(self._recv_client(remaining))
        except TimeoutError:
            return False
        return True

    def _next_body_event(self) -> Any:
        """The next request body event: those taken ahead first, then the connection's."""
        if self.body_ahead:
            event = self.body_ahead.pop(0)
            if isinstance(event, RemoteProtocolError):
                raise event
            return event
        return self.front.next_event()

    def _new_txn(self, head: RequestHead) -> Transaction:
        # Connection is hop-by-hop: the protocol layer has acted on it, and HAProxy
        # hides it from rules and Lua too (it writes its own towards each side),
        # except that an Upgrade request keeps its value on the way to the server.
        if "connection" in self.front.head_fields:
            self.upgrade_connection = (", ".join(head.headers.get_all("connection")) or "upgrade") if (
                self.front.switch_proposed and head.method != "CONNECT") else None
            head.headers.remove("connection")
        else:  # without a Connection field only a CONNECT proposes a switch
            self.upgrade_connection = None
        worker, frontend, trackers = self.worker, self.frontend, self.trackers
        last = self.txn_vars
        variables = self.txn_vars = last.next_transaction() if last is not None else (
            self.session_vars.new_transaction())
        txn = request_transaction(self.client, frontend, worker.logger, self.so_id, worker.proxies,
                                  worker.process, variables, self.addresses, self.request_started)
        txn.request = head
        requests = self.requests = self.requests + 1
        if requests != 1:
            txn.first_request = False
        if frontend.header_captures:
            frontend.capture_headers(txn, "request", head.headers)
        txn.http_mode = True
        txn.stkctr = trackers
        txn.http_stream = self
        if self.response_ahead:
            self.response_ahead.clear()
        if trackers.ended:
            trackers.begin_stream()
        if trackers.slots != UNTRACKED:  # what the connection tracks counts each request
            trackers.count("http_req")
        return txn

    def channels(self) -> tuple[Channel, Channel]:
        """A transaction's request and response channels (Lua's txn.req, txn.res): in HTTP mode they
        only tell sizes and state; what is sent on the response goes to the client."""
        req = Channel("req", self.worker.bufsize)
        res = Channel("res", self.worker.bufsize)
        req.http = res.http = True
        res.connect(self._send_client)
        return req, res

    def _end(self, txn: Transaction, termination: str | None = None) -> None:
        """Close the books of one transaction: timers, status counters, the access log."""
        if termination is not None:
            txn.termination = termination
        txn.t_active = time.monotonic() - txn.started
        status = txn.status
        frontend = self.frontend
        if status:
            # The final status (after every rule, ours or the server's), counted on the frontend and on the
            # backend the switching rules gave, if the transaction got that far, as haproxy counts it.
            key = CLASS_OF_STATUS[status] if status < 600 else "other"
            frontend.fe_counters.responses[key] += 1
            if txn.routed is not None:
                txn.routed.be_counters.responses[key] += 1
        if frontend.access_log is not None:
            frontend.access_log(txn)
        trackers = self.trackers
        if trackers.slots != UNTRACKED and not trackers.ended:  # ended: a reply of ours counted it
            trackers.end_stream(txn.status, txn.bytes_in, txn.bytes_out, txn.server is not None)
        if txn.lua is not None or txn.priv is not None:
            txn.release()
        self.txn = None

    def _body_timeout(self, txn: Transaction) -> bool:
        """option http-buffer-request: the body did not come within the request timeout (408, "cD")."""
        self.frontend.fe_counters.failed_req += 1
        txn.termination = "cD"
        return self._send_reply(self.pages.reply(408, txn))

    def _tcp_refused(self, txn: Transaction) -> bool:
        """A tcp-request content rule stopped the request: HAProxy closes without a response."""
        self.frontend.fe_counters.denied_req += 1
        txn.termination = "PR"
        return False

    def _refuse(self, txn: Transaction, verdict: Verdict) -> bool:
        """A rule stopped the request: its reply, HAProxy's page, or a plain close."""
        if verdict is REJECT:
            self.frontend.fe_counters.denied_req += 1
            txn.termination = "PR"
        else:
            txn.termination = "LR"
        reply = txn.reply
        if reply is not None:
            if not reply.close and self.body_ahead != _BODILESS_END:  # one that closes (reject, 408) leaves it unread
                self._discard_request_body()
            return self._send_reply(self.pages.reply(reply.status, txn) if reply.errorfile else reply)
        if verdict is REJECT:
            return self._error(403)
        if verdict is ERROR:
            txn.termination = "IR"
            return self._error(500)
        return False

    def _error(self, status: int) -> bool:
        if self.body_ahead != _BODILESS_END:
            self._discard_request_body()
        return self._send_reply(self.pages.reply(status, self.txn))

    def _send_reply(self, reply: Reply) -> bool:
        """Send a reply of our own; True if the connection stays usable."""
        txn = self.txn
        if txn is not None:
            txn.status = reply.status
            if self.trackers.slots != UNTRACKED:
                self.trackers.end_stream(reply.status, txn.bytes_in, txn.bytes_out, txn.server is not None, True)
        if reply.raw is not None:
            self._send_client(reply.raw)
            return False
        if txn is not None and not reply.close and self.answers_plainly(txn) and (
                data := reply.wire or reply.whole()):
            self.front.answered()  # nothing may change it: the bytes made once, the moves of send_message
            if self.frontend.access_log is not None:  # %B only
                txn.bytes_logged = logged_size(reply.head()) + len(reply.body)
            self._send_client(data)
            return True
        head = reply.head() if self.txn is None else self._after_response(self.txn, reply.head())
        if self.txn is not None:
            self.txn.status = head.status
        head_only = self.txn is not None and self.txn.request is not None and self.txn.request.method == "HEAD"
        try:
            if head.status < 200:  # a 101 of our own (http-after-response set-status 101): the head, then the end
                self._send_client(self.front.send(InformationalResponse(head)))
                return False
            data = self.front.send_message(head, b"" if head_only else reply.body)
        except LocalProtocolError:
            return False
        if self.txn is not None and self.frontend.access_log is not None:  # %B only
            self.txn.bytes_logged = logged_size(head) + len(reply.body)
        self._send_client(data)
        return not reply.close

    def answers_plainly(self, txn: Transaction) -> bool:
        """An answer of our own may go out as bytes made whole: the exchange allows it (Connection.plain_answer)
        and nothing configured on the frontend or the routed backend may change it (HttpPlan.plain_answer)."""
        return self.plan.plain_answer and self.front.plain_answer() and (
            txn.backend is None or (txn.backend.plan or plan_of(txn.backend)).plain_answer)

    def _took_bodiless_end(self) -> bool:
        """The usual request, with no body: its end, taken with the head (_transaction), is used up here."""
        if self.body_ahead == _BODILESS_END:
            self.body_ahead.clear()
            return True
        return False

    def _discard_request_body(self) -> None:
        """Read and drop the rest of a request we answer ourselves (bounded by the client timeout), when it
        is more than the bodiless end its callers test first (_BODILESS_END, left for the next request's
        start to clear: a call less on the usual request)."""
        timeout = self.plan.client
        try:
            while True:
                event = self._next_body_event()
                if isinstance(event, EndOfMessage | ConnectionClosed):
                    return
                if event is NEED_DATA:
                    if self.front.they_are_waiting_for_100_continue:
                        return
                    self.front.receive_data(self._recv_client(timeout))
                elif not isinstance(event, Data):
                    return
        except (RemoteProtocolError, TimeoutError):
            return

    # Forwarding to a server.

    def _forward(self, txn: Transaction, backend: Proxy, plain: bool = False) -> bool:
        """Send the request to a server of *backend* and relay its answer; *plain*: nothing configured acts
        on this forward (``_plain``)."""
        ahead = self.body_ahead
        if ahead and isinstance(ahead[-1], RemoteProtocolError) and self.front.trailing_data[1]:
            txn.termination = "CR"  # the client left while its body was awaited: no server, no answer
            return False
        head = txn.request
        bplan = backend.plan or plan_of(backend)
        if plain:
            httpclose = server_close = False
        else:
            if self.frontend.unique_id_header:
                head.headers.set(self.frontend.unique_id_header, txn.unique_id())
            if backend.forwarded_headers or self.frontend.forwarded_headers:
                specs = {spec.side: spec for spec in (*self.frontend.forwarded_headers, *backend.forwarded_headers)}
                for spec in specs.values():
                    spec.apply(head.headers, txn.src if spec.side == "src" else txn.dst)
            httpclose = self.plan.httpclose or bplan.httpclose
            server_close = self.plan.server_close or bplan.server_close
        if httpclose or server_close:
            head.headers.set("Connection", "close")
        elif head.version != "HTTP/1.1" and not at_least_http11(head.version):
            head.headers.set("Connection", "keep-alive")  # it stays HTTP/1.0, as HAProxy sends it
        if self.upgrade_connection is not None:
            head.headers.set("Connection", self.upgrade_connection)
        counters = backend.be_counters
        counters.open()
        counters.requests += 1
        try:
            if not plain and (self.plan.abortonclose or bplan.abortonclose):
                with watch_client(self.client, lambda: txn.response is None and self._body_read()):
                    self._send_request(txn, backend, head)
                    response = self._relay_response(txn, backend, bplan)
            else:
                self._send_request(txn, backend, head)
                response = self._relay_response(txn, backend, bplan)
        except ClientAborted as abort:
            return self._client_aborted(txn, abort)
        except ServerFailed as failure:
            return self._server_failed(txn, backend, failure)
        finally:
            counters.close()
        if (self.upgrade_connection is not None or head.method == "CONNECT") and self.front.switched:
            self._tunnel(txn, backend)  # only an Upgrade or a CONNECT may switch
            return False
        finished = self.body_pump is None or self._finish_request_body()
        self._release_server(backend, httpclose or server_close)
        if httpclose or not finished:
            return False
        return response is not None

    def _forward_plain(self, txn: Transaction, backend: Proxy) -> bool:
        """``_forward`` of a plain forward (``_plain``).  The usual request, here whole (no body, or all of
        it: ``_transaction`` took it) from an HTTP/1 client and asking for no switch, goes without the tests of options,
        body pump and tunnel that ``_forward`` makes; any other goes there."""
        ahead, head = self.body_ahead, txn.request
        if ahead == _BODILESS_END:
            body = b""
        elif len(ahead) == 2 and ahead[1] is END_OF_MESSAGE and type(ahead[0]) is Data:
            body = ahead[0].data
        else:
            return self._forward(txn, backend, True)
        if type(self.front) is not Connection or self.upgrade_connection is not None or head.method == "CONNECT":
            return self._forward(txn, backend, True)  # an HTTP/2 stream's request, or a switch proposed
        ahead.clear()
        if head.version != "HTTP/1.1" and not at_least_http11(head.version):
            head.headers.set("Connection", "keep-alive")  # it stays HTTP/1.0, as HAProxy sends it
        counters = backend.be_counters
        counters.open()
        counters.requests += 1
        try:
            self._deliver(txn, backend, head, body, END_OF_MESSAGE)
            response = self._relay_response(txn, backend, backend.plan or plan_of(backend))
        except ServerFailed as failure:
            return self._server_failed(txn, backend, failure)
        finally:
            counters.close()
        self._release_server(backend, False)
        return response is not None

    def _server_failed(self, txn: Transaction, backend: Proxy, failure: ServerFailed) -> bool:
        """The exchange failed before the client got anything: the server dropped, the rule's reply or
        HAProxy's page for the failure sent."""
        self._drop_server()
        if self.body_pump is not None:
            self.body_pump.kill()
        if failure.reply is not None:
            return self._send_reply(failure.reply) and self._finish_request_body()
        status = self._count_failure(txn, backend, failure.status)
        self._send_reply(self.pages.reply(status, txn))
        return False

    def _body_read(self) -> bool:
        """No request body is still arriving (its pump reads the client, and sees its close)."""
        return self.body_pump is None or self.body_pump.dead

    def _client_aborted(self, txn: Transaction, abort: ClientAborted) -> bool:
        """option abortonclose: the client left while its request waited (CQ, CC, or CH logged as 400)."""
        step = abort_phase(txn.server, self.server)
        if step == "Q":
            txn.t_queue = abort.waited
        elif step == "H":
            txn.status = 400
        self._drop_server()
        txn.termination = "C" + step
        return False

    def _count_failure(self, txn: Transaction, backend: Proxy, status: int) -> int:
        """Which side failed, in HAProxy's counters and termination codes; returns the status to answer."""
        server_counters = backend.counters_of(txn.server) if txn.server is not None else None
        if self.request_error is not None:
            # The client's body broke the exchange (a bad chunk): its fault, as HAProxy counts it.
            status, self.request_error = self.request_error, None
            txn.termination = "PH"
            self.frontend.fe_counters.failed_req += 1
        elif status == 503:
            txn.termination = "SC"
            backend.be_counters.conn_errors += 1
            if server_counters is not None:
                server_counters.conn_errors += 1
        elif status in (502, 504):
            txn.termination = "sH" if status == 504 else "SH"
            backend.be_counters.resp_errors += 1
            if server_counters is not None:
                server_counters.resp_errors += 1
        return status

    def _send_request(self, txn: Transaction, backend: Proxy, head: RequestHead) -> None:
        """Connect (or reuse), send the head, and start streaming the body if there is one."""
        if self._took_bodiless_end():
            self._deliver(txn, backend, head, b"", END_OF_MESSAGE)
            return
        ahead = self.body_ahead
        first_body_event = self._peek_request_body()
        if type(first_body_event) is Data and txn.filters is None and len(ahead) == 1 and ahead[0] is END_OF_MESSAGE:
            ahead.clear()  # the whole body is here (HttpStream._transaction): it goes with the head, no pump
            self._deliver(txn, backend, head, first_body_event.data, END_OF_MESSAGE)
        elif isinstance(first_body_event, EndOfMessage):
            self._deliver(txn, backend, head, b"", first_body_event)
        else:
            self._deliver(txn, backend, head, None, END_OF_MESSAGE)
            self.body_pump = gevent.spawn(self._pump_request_body, first_body_event)

    def _deliver(self, txn: Transaction, backend: Proxy, head: RequestHead, body: bytes | None,
                 end: EndOfMessage) -> None:
        """Reuse an idle connection to the server the balancer gives (waiting in its queue while all are
        full), or connect, and send *head*, with *body* and *end* when the request is whole (else the head
        alone: its body follows); a send that fails is retried on a new connection, up to ``retries``.
        A plain loop, not ``for`` over a ``range``: the range and its iterator cost about 1.3k machine
        instructions a request that almost always makes one attempt."""
        started = time.monotonic()
        attempt = 0
        while True:
            server = acquire_server(backend, txn, self)
            if server is None:
                raise ServerFailed(503)
            key, private = server.pool_key, False
            if key is None:
                key, private = connection_key(server, txn)
            websocket = websocket_mode(server, txn) if self.upgrade_connection is not None else None
            # An idle connection http-reuse allows: never, the session's own; safe, any idle one after the
            # session's first request; aggressive, also proven ones (2+ requests) for a first request; always, any.
            mode = "never" if private else backend.http_reuse
            if websocket:
                conn = None
            elif mode == "never":
                conn = self.own_pool.take(server, key, 0, started) if self.own_pool is not None else None
            elif self.requests > 1 or mode == "always":
                conn = self.pool.take(server, key, 0, started)
            else:
                conn = self.pool.take(server, key, 2, started) if mode == "aggressive" else None
            if conn is not None:
                conn.balancer = backend.balancer
                txn.server_conn = conn.sock
            else:
                conn = self._connect(txn, backend, server, key, private, websocket)
                if conn is None:
                    raise ServerFailed(503)
            conn.requests += 1
            connected = conn.connected_at = time.monotonic()
            txn.t_connect = connected - started
            try:
                data = conn.http.send(Request(head)) if body is None else conn.http.send_message(head, body, end)
                send_all(conn.sock, data)
            except LocalProtocolError:
                conn.close()
                raise ServerFailed(500) from None
            except OSError:
                conn.close()
                if attempt < backend.retries:
                    attempt += 1
                    txn.retries += 1
                    backend.be_counters.retries += 1
                    continue
                raise ServerFailed(503) from None
            self.server = conn
            conn.counters.bytes_in += len(data)  # the request's bytes, its body counted as it goes
            backend.be_counters.bytes_in += len(data)
            return

    def _peek_request_body(self) -> Any:
        """EndOfMessage when the request has no body (or it is all here), else the first body event."""
        try:
            event = self._next_body_event()
        except RemoteProtocolError as exc:
            raise ServerFailed(exc.status_hint) from None
        return event

    def _connect(self, txn: Transaction, backend: Proxy, server: Any, key: Any, private: bool,
                 websocket: str | None) -> ServerConnection | None:
        """A new connection to *server* (from ``acquire_server``, made under *key*: ``connection_key``), or
        to the server a redispatch gave instead; None once every attempt failed."""
        sock = connect_server(backend, txn, server)
        if sock is None:
            return None
        sock.settimeout(txn.timeouts.get("server", (backend.plan or plan_of(backend)).server))  # bounds sends
        if txn.server is not server:  # redispatched
            key, private = connection_key(txn.server, txn)
        return ServerConnection(txn.server, sock, server_http(txn.server, sock, websocket), balancer=backend.balancer,
                                address=key, counters=backend.counters_of(txn.server),
                                private=backend.http_reuse == "never" or private)

    def _pump_request_body(self, first: Any) -> None:
        """Client body → server, event by event; runs beside the response relay (100-continue).

        A server that stops taking the body (it answered early, closed, or timed
        out) makes the pump read and drop the rest, up to DRAIN_LIMIT, so the
        client gets the answer instead of a reset, as HAProxy does.  A malformed
        body is the client's fault: the relay is woken and the client gets 400.
        """
        conn = self.server
        assert conn is not None
        event = first
        timeout = self.plan.client
        forwarding, dropped = True, 0
        try:
            while True:
                if event is NEED_DATA and forwarding and splicing.request_body(self, conn, timeout):
                    event = self._next_body_event()
                    continue
                if event is NEED_DATA:
                    data = self._recv_client(timeout)
                    if not data:  # the client left in the middle of its body
                        shutdown_both(conn.sock)
                        return
                    self.front.receive_data(data)
                elif isinstance(event, Data | EndOfMessage):
                    if forwarding:
                        forwarding = self._forward_body(conn, event, self.txn)
                    elif isinstance(event, Data):
                        dropped += len(event.data)
                        if dropped > DRAIN_LIMIT:
                            return
                    if isinstance(event, EndOfMessage):
                        return
                else:
                    return
                event = self._next_body_event()
        except RemoteProtocolError as exc:
            self.request_error = exc.status_hint
            shutdown_both(conn.sock)
        except filters.FilterAborted:
            self.request_error = 500  # a Lua filter failed on the body: the server never gets the rest
            shutdown_both(conn.sock)
        except (LocalProtocolError, OSError):
            shutdown_both(conn.sock)

    @staticmethod
    def _forward_body(conn: ServerConnection, event: Data | EndOfMessage, txn: Transaction | None) -> bool:
        """Send one body event to the server (through the request's body filters, if any); False once it
        stopped taking them."""
        chain = txn.filters if txn is not None else None
        send = conn.http.send
        try:
            data = send(event) if chain is None else chain.forward_request(event, send)
            send_all(conn.sock, data)
        except OSError:
            return False
        count_request_bytes(conn, txn, len(data))
        return True

    def _finish_request_body(self) -> bool:
        """True when the request body was fully read (forwarded, or dropped after the server's answer)."""
        pump, self.body_pump = self.body_pump, None
        if pump is None:
            return True
        if not pump.dead:
            pump.join(self.plan.client)
            if not pump.dead:
                pump.kill()
                return False
        return self.front.their_state is DONE

    def _relay_response(self, txn: Transaction, backend: Proxy, bplan: HttpPlan) -> ResponseHead | None:
        """Server events to the client; what one read of the server yields goes out in one send."""
        conn = self.server
        assert conn is not None
        timeout = txn.timeouts.get("server", bplan.server) if txn.timeouts else bplan.server
        server_counters = conn.counters
        server_counters.open()
        sent_at = conn.connected_at  # Tr counts from the connection's establishment, as haproxy's does
        head: ResponseHead | None = None
        pending = bytearray()
        http, ahead = conn.http, self.response_ahead
        # Nothing of an HTTP/1 answer read yet (the usual case, the request just sent): read before parsing.
        event: Any = NEED_DATA if type(http) is Connection and not (ahead or http.buffer or http.eof) else None
        try:
            while True:
                if event is None:
                    try:
                        event = body_wait.next_event(conn, ahead) if ahead else http.next_event()
                    except RemoteProtocolError:
                        if head is None:
                            raise ServerFailed(502) from None
                        raise ClientGone from None
                if event is NEED_DATA:
                    event = None
                    if pending:
                        self._send_client(bytes(pending))
                        pending.clear()
                    if head is not None and not ahead:
                        try:
                            if splicing.response_body(self, backend, conn, server_counters, timeout):
                                continue
                        except OSError:
                            raise ClientGone from None
                    try:
                        data = conn.receive(READ_SIZE, timeout)
                    except TimeoutError:
                        if head is None:
                            raise ServerFailed(504) from None
                        raise ClientGone from None
                    except OSError:
                        data = b""
                    server_counters.bytes_out += len(data)
                    backend.be_counters.bytes_out += len(data)
                    if head is None and backend is self.plain_backend and txn.filters is None and not ahead and (
                            self.front.plain_answer()):
                        if (whole := http.receive_whole(data)) is not None:
                            # A plain forward's whole response, to a client that takes it as it is: what the
                            # general path writes of it is the bytes read, so they go out in one send, with
                            # the same counters, timers and moves.
                            head, data = whole
                            if self.worker.trace is not None:
                                self.worker.trace.response(self.client, conn.sock, backend.name, head)
                            head = self._response_head(txn, backend, head, sent_at, server_counters)
                            self.front.answered()
                            return self._response_end(txn, head, data)
                    else:
                        http.receive_data(data)
                    continue
                if type(event) is Response:
                    if self.worker.trace is not None:
                        self.worker.trace.response(self.client, conn.sock, backend.name, event.head)
                    head = self._response_head(txn, backend, event.head, sent_at, server_counters)
                    if txn.filters is None and not ahead and (body := http.take_body()) is not None:
                        # The whole body came with the head: both ends in one call each, one send.
                        data = self.front.send_message(head, body)
                        return self._response_end(txn, head, bytes(pending) + data if pending else data)
                    if txn.filters is not None:
                        txn.filters.response_head(txn, head)
                    pending += self.front.send(Response(head))
                elif isinstance(event, InformationalResponse) and http.switched:
                    head = self._response_head(txn, backend, event.head, sent_at, server_counters)
                    pending += self.front.send(InformationalResponse(head))
                elif txn.filters is not None and isinstance(event, Data | EndOfMessage):
                    pending += txn.filters.forward(event, self.front.send)
                elif isinstance(event, InformationalResponse | Data | EndOfMessage):
                    pending += self.front.send(event)
                elif event is PAUSED:
                    # Only a protocol switch pauses a server's side: what follows is a tunnel's.
                    if head is None or not http.switched:
                        raise ServerFailed(502) if head is None else ClientGone
                    self._send_client(bytes(pending))
                    return head
                if isinstance(event, EndOfMessage | ConnectionClosed):
                    if head is None:
                        raise ServerFailed(502)
                    return self._response_end(txn, head, bytes(pending))
                event = None
        finally:
            server_counters.close()

    def _response_end(self, txn: Transaction, head: ResponseHead, data: bytes) -> ResponseHead:
        """The response's last bytes to the client, the stick counters closed first."""
        if self.trackers.slots != UNTRACKED:
            # The stick counters are counted and released before the response's last bytes
            # go out, as for a reply of our own: a client that read the whole answer, then
            # asks ``show table``, finds them released, as on haproxy.
            self.trackers.end_stream(txn.status, txn.bytes_in, txn.bytes_out + len(data), True, True)
        self._send_client(data)
        return head

    def _response_head(self, txn: Transaction, backend: Proxy, head: ResponseHead, sent_at: float,
                       server_counters: Counters) -> ResponseHead:
        """The server's response head after timers, counters and http-response rules.  Its counters as haproxy
        counts a response head when it arrives: its own status on the server (before any http-response rule
        changes it), its response time on the server and its backend."""
        status = head.status
        if "connection" in self.server.http.head_fields:  # type: ignore[union-attr]
            upgrade = ", ".join(head.headers.get_all("connection")) or "upgrade" if status == 101 else None
            head.headers.remove("connection")
        else:
            upgrade = "upgrade" if status == 101 else None
        seconds = txn.t_response = time.monotonic() - sent_at
        server_counters.responses[CLASS_OF_STATUS[status] if status < 600 else "other"] += 1
        server_counters.response_time_total += seconds
        server_counters.response_count += 1
        be_counters = backend.be_counters
        be_counters.response_time_total += seconds
        be_counters.response_count += 1
        if backend is self.plain_backend:  # no rule, capture, persistence or close option (_plain)
            if upgrade is not None:
                head.headers.set("Connection", upgrade)
            txn.response = head
            txn.status = status
            return head
        bplan, fplan = backend.plan or plan_of(backend), self.plan
        if fplan.response_rules or bplan.response_rules or self.frontend.header_captures:
            head = self._response_rules(txn, backend, head)
        else:
            txn.response = head
        if backend.cookie is not None:
            cookie.on_response(backend, txn, head)
        if bplan.after_response or fplan.after_response:
            head = self._after_response(txn, head)
        if backend.stick_rules:
            store_response(backend, txn)
        if upgrade is not None:
            head.headers.set("Connection", upgrade)
        elif fplan.httpclose or bplan.httpclose:
            head.headers.set("connection", "close")
        txn.status = head.status
        return head

    def _response_rules(self, txn: Transaction, backend: Proxy, head: ResponseHead) -> ResponseHead:
        txn.response = head
        if self.frontend.header_captures:
            self.frontend.capture_headers(txn, "response", head.headers)
        if not (self.plan.response_rules or (backend.plan or plan_of(backend)).response_rules):
            return head
        for proxy in (backend, self.frontend) if backend is not self.frontend else (backend,):
            plan = proxy.plan or plan_of(proxy)
            if not (plan.tcp_response or plan.http_response):
                continue
            verdict = run_rules(plan.tcp_response, txn) if plan.tcp_response else ACCEPT
            if verdict is REJECT:
                raise ServerFailed(502, SILENT_CLOSE)
            if verdict is ACCEPT and plan.http_response:
                verdict = run_rules(plan.http_response, txn)
            if verdict is ACCEPT:
                continue
            reply = txn.reply
            if reply is not None and reply.errorfile:
                reply = self.pages.reply(reply.status, txn)
            raise ServerFailed(500 if verdict is ERROR else 502, reply)
        return txn.response

    def _tunnel(self, txn: Transaction, backend: Proxy) -> None:
        """After a 2xx to CONNECT or a 101: relay raw bytes both ways until both sides close.

        The idle limit is ``timeout tunnel``, else the larger of the client and
        server timeouts, as in HAProxy.
        """
        conn = self.server
        assert conn is not None
        self._finish_request_body()
        bplan = backend.plan or plan_of(backend)
        limits = [t for t in (self.plan.client, bplan.server) if t]
        timeout = bplan.tunnel or self.plan.tunnel or (max(limits) if limits else None)
        server_counters = backend.counters_of(conn.server)
        fe_counters, be_counters = self.frontend.fe_counters, backend.be_counters

        def up(size: int) -> None:
            txn.bytes_in += size
            fe_counters.bytes_in += size
            be_counters.bytes_in += size
            server_counters.bytes_in += size

        def down(size: int) -> None:
            txn.bytes_out += size
            fe_counters.bytes_out += size
            be_counters.bytes_out += size
            server_counters.bytes_out += size

        tunnel = Tunnel(self._tunnel_client(), tunnel_end(conn), timeout, up, down)
        tunnel.run(self.front.trailing_data[0], conn.http.trailing_data[0])
        if tunnel.timed_out:
            txn.termination = "cD"
        self._drop_server()

    def _tunnel_client(self) -> Any:
        """The client end of a tunnel (an HTTP/2 stream gives its own: worker.http2.tunnel)."""
        return self.client

    def _after_response(self, txn: Transaction, head: ResponseHead) -> ResponseHead:
        """http-after-response rules (backend's, then frontend's) on every response, ours included."""
        backend, frontend = txn.backend, self.frontend
        backend_rules = (backend.plan or plan_of(backend)).after_response if backend is not None else None
        if not (self.plan.after_response or backend_rules):
            return head
        proxies = [p for p in dict.fromkeys((backend, frontend)) if p is not None]
        txn.response = head
        for proxy in proxies:
            rules = (proxy.plan or plan_of(proxy)).after_response
            if rules and run_rules(rules, txn) is not ACCEPT:
                break
        return txn.response

    def _release_server(self, backend: Proxy, closing: bool) -> None:
        """Pool the server connection after a complete exchange, unless *closing* (httpclose/http-server-close)."""
        conn, self.server = self.server, None
        if conn is None:
            return
        if closing or not conn.http.next_cycle():
            conn.close()
        elif conn.private:
            if self.own_pool is None:
                self.own_pool = ServerPool()
            self.own_pool.give_back(conn)
        else:
            self.pool.give_back(conn)

    def _drop_server(self) -> None:
        conn, self.server = self.server, None
        if conn is not None:
            conn.close()

    # Services (http-request use-service).

    def _run_service(self, txn: Transaction) -> bool:
        service = txn.service
        txn.service = None
        io = service_io(self, txn)
        service(txn, io)
        return io.finish()


_last_service_head: list[tuple[Any, bytes, str | None]] = [((), b"", None)]
"""The last head ``ServiceIO.whole`` made, by its (status, reason, fields): a service usually answers with
the same head again, which needs no check a second time."""


def _service_head(status: int, text: str | None, fields: tuple[str, ...]) -> tuple[bytes, str | None] | None:
    """A service's response head, checked, and the Content-Length its body must match (None: the body goes
    chunked, the field added); None when the head cannot go out made whole (the general path takes it)."""
    names, values = fields[::2], fields[1::2]
    if len(names) != len(values) or not (names_valid(names) and values_valid(values)):
        return None
    lowered = ",".join(names).lower().split(",") if names else []  # names are tokens: no comma in one
    framing = FRAMING_FIELDS.intersection(lowered)
    if not framing:
        length = None
        names, values = (*names, "transfer-encoding"), (*values, "chunked")
    elif framing == _LENGTH_ONLY and lowered.count("content-length") == 1:
        length = values[lowered.index("content-length")]
    else:
        return None
    head = checked_response(status, text or reason(status), zip(names, values, strict=True), b"")
    return None if head is None else (head, length)


class ServiceIO:
    """What an HTTP service (a Lua AppletHTTP) reads and writes: the request body, the response (made by
    :func:`service_io`)."""

    __slots__ = ("_output", "_pending", "body_done", "client_gone", "head_sent", "request", "response_done",
                 "stream", "txn")

    def whole(self, status: int | None, text: str | None, body: str | None, *fields: str) -> bool:
        """The service's whole response at its end (*fields*: name, value, name, value...), sent in one
        piece when nothing may change it: no response rule, capture or filter, a kept-alive HTTP/1.1
        GET-like exchange, a body framed by its one exact Content-Length, or by none (then chunked, as
        AppletHTTP frames it).  False: nothing was done, the general path (send_head, send) takes it."""
        stream, txn = self.stream, self.txn
        if status is None or self.head_sent or not stream.answers_plainly(txn) or (
                txn.filters is not None or status in BODILESS or self.request.version != "HTTP/1.1"):
            return False
        key = (status, text, fields)
        last = _last_service_head[0]
        if key == last[0]:
            head, length = last[1], last[2]
        else:
            made = _service_head(status, text, fields)
            if made is None:
                return False
            head, length = made
            _last_service_head[0] = (key, head, length)
        payload = body.encode("latin-1") if body else b""
        if length is None:
            data = head + chunked_whole(payload)
        elif length == str(len(payload)):
            data = head + payload
        else:
            return False
        stream.front.answered()
        self.head_sent = self.response_done = True
        txn.status = status
        if stream.frontend.access_log is not None:  # what a log line may read: %B, %ST, res.hdr
            names, values = fields[::2], fields[1::2]
            if length is None:
                names, values = (*names, "transfer-encoding"), (*values, "chunked")
            txn.response = response = ResponseHead(status, text or reason(status), "HTTP/1.1",
                                                   Headers(list(zip(names, values, strict=True))))
            txn.bytes_logged = logged_size(response) + len(payload)
        try:
            stream._send_client(data)
        except ClientGone:
            self.client_gone = True
        return True

    def receive(self, size: int | None = None) -> bytes:
        """Up to *size* body bytes (all of it when None); b"" at the end of the body."""
        while (size is None or len(self._pending) < size) and not self.body_done:
            if not self._pull():
                break
        if size is None:
            size = len(self._pending)
        data = bytes(self._pending[:size])
        del self._pending[:size]
        return data

    def getline(self) -> bytes:
        while b"\n" not in self._pending and not self.body_done:
            if not self._pull():
                break
        end = self._pending.find(b"\n")
        size = len(self._pending) if end < 0 else end + 1
        data = bytes(self._pending[:size])
        del self._pending[:size]
        return data

    def _pull(self) -> bool:
        front = self.stream.front
        try:
            event = self.stream._next_body_event()
            if event is NEED_DATA:
                self.flush()
                if front.they_are_waiting_for_100_continue and not self.head_sent:
                    self.stream._send_client(b"HTTP/1.1 100 Continue\r\n\r\n")
                front.receive_data(self.stream._recv_client(self.stream.plan.client))
                return True
        except (RemoteProtocolError, TimeoutError):
            self.body_done = True
            return False
        if isinstance(event, Data):
            self._pending += event.data
            return True
        self.body_done = True
        return False

    def send_head(self, head: ResponseHead) -> None:
        """The service's response head, after the http-response and http-after-response rules, as HAProxy
        runs them on an applet's (a Lua service, the stats page)."""
        self.head_sent = True
        try:
            head = self.stream._response_rules(self.txn, self.txn.backend or self.stream.frontend, head)
        except ServerFailed as failure:
            self.stream._send_reply(self.stream.pages.reply(failure.status))
            self.client_gone = True
            return
        head = self.stream._after_response(self.txn, head)
        self.txn.status = head.status
        if self.stream.frontend.access_log is not None:  # %B only: no log, no count
            self.txn.bytes_logged = logged_size(head)
        if self.txn.filters is not None:
            self.txn.filters.response_head(self.txn, head)
        self._output += self.stream.front.send(Response(head))

    def send(self, data: bytes) -> None:
        if data:
            chain = self.txn.filters
            send = self.stream.front.send
            self._output += send(Data(data)) if chain is None else chain.forward(Data(data), send)
            if self.stream.frontend.access_log is not None:
                self.txn.bytes_logged = (self.txn.bytes_logged or 0) + len(data)

    @property
    def output_full(self) -> bool:
        return len(self._output) >= self.stream.worker.bufsize

    def flush(self) -> None:
        """Send the buffered output; a client that left makes it go nowhere, quietly, as in HAProxy."""
        if not self._output or self.client_gone:
            return
        data = bytes(self._output)
        self._output.clear()
        try:
            self.stream._send_client(data)
        except ClientGone:
            self.client_gone = True

    def finish(self) -> bool:
        """End the response (and the request body); True when the connection may go on."""
        if self.client_gone:
            return False
        if not self.head_sent:
            return self.stream._error(500)
        if not self.response_done:
            self.response_done = True
            try:
                chain = self.txn.filters
                send = self.stream.front.send
                self._output += send(END_OF_MESSAGE) if chain is None else chain.forward(EndOfMessage(), send)
            except LocalProtocolError:
                return False
            finally:
                self.flush()
            if self.client_gone:
                return False
        if not self.body_done and self.stream._took_bodiless_end():
            self.body_done = True
        while not self.body_done:
            if not self._pull():
                break
        return self.stream.front.their_state is DONE


def service_io(stream: HttpStream, txn: Transaction) -> ServiceIO:
    """The ServiceIO of *txn*'s service, one per request: built without calling the class (a class call goes
    through the interpreter's C layer to its ``__init__``, about 1k instructions more)."""
    io: ServiceIO = _new_object(ServiceIO)
    io.stream = stream
    io.txn = txn
    io.request = txn.request
    io.body_done = io.head_sent = io.response_done = io.client_gone = False
    io._pending = bytearray()
    io._output = bytearray()
    return io


def _monitored(monitor_uri: str, head: RequestHead) -> bool:
    """A path monitor-uri matches the request's path; a whole URI matches the whole target."""
    return head.path == monitor_uri if monitor_uri.startswith("/") else head.target == monitor_uri
