"""A TCP-mode stream: analyse the request, connect a server, relay both ways.

One greenlet runs the stream (rules and Lua actions), one reader greenlet per
direction feeds its channel.  Rules see data in the channels' input parts;
once they are done the channels forward, and bytes pass straight through.
The client's reader starts when someone first waits (a rule for content, a Lua
action for anything) or when the rules let the stream go on: a spawned reader
could not run before then anyway, and a stream that rules end at once (a Lua
action answering by itself) never makes one.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import socket
import time

import gevent

from ..backend.connect import acquire_server, connect_server
from ..channel import Channel
from ..context import WorkerContext
from ..netutil import close_gracefully, send_all, shutdown_write
from ..proxy import Proxy, Rule
from ..rules.evaluate import run_rules, run_session_rules
from ..rules.verdict import ACCEPT, DONE, ERROR, REJECT, Verdict
from ..sticktable.tracking import Trackers
from ..tls import clienthello
from ..txn import Addresses, Transaction
from . import filters as tcp_filters
from . import upgrade

READ_SIZE = 65536
_TERMINATION = {REJECT: "PR", DONE: "LR", ERROR: "IR"}
"""The termination state of a stream the request rules ended."""


def _client_gone(data: bytes) -> None:
    """The response channel's sink once its stream ended: a late send fails as on the closed socket."""
    raise OSError(errno.EBADF, "the stream is over")


class TcpStream:
    __slots__ = ("aborted", "activity", "client", "filters", "frontend", "readers", "req", "res", "server", "txn",
                 "upgraded", "worker")

    def __init__(self, worker: WorkerContext, frontend: Proxy, client: socket.socket, so_id: int,
                 addresses: Addresses | None = None) -> None:
        self.worker = worker
        self.frontend = frontend
        self.client = client
        self.server: socket.socket | None = None
        bufsize = worker.bufsize
        self.req = Channel("req", bufsize)
        self.res = Channel("res", bufsize)
        self.txn = txn = Transaction(client, frontend, self.req, self.res, worker.logger, so_id,
                                     worker.proxies, worker.process, worker.new_vars(), addresses)
        self.activity: dict[str, float] = {}
        """The last read on each side ("req", "res"), filled when the readers start."""
        self.aborted = False
        self.readers: list[gevent.Greenlet] = []
        txn.stkctr = Trackers()
        self.filters: tcp_filters.TcpFilters | None = None
        """The stream's Lua filters (``filter lua.NAME``), None when its proxies declare none."""
        self.upgraded = False
        """The connection went on as HTTP (worker.tcp.upgrade): its requests are logged, not this stream."""

    def serve(self) -> None:
        """Run the stream to its end; every path closes both sockets."""
        fe = self.frontend
        fe.current_conns += 1
        fe.fe_counters.open()
        accepted = False
        try:
            rules = fe.rules
            accepted = (not (rules.get("tcp-request connection") or rules.get("tcp-request session"))
                        or run_session_rules(fe, self.txn) is ACCEPT)  # most frontends have neither
            if accepted:
                self._serve()
            else:
                fe.fe_counters.denied_conn += 1
        except tcp_filters.TcpFilterError:
            self._abort()
        finally:
            txn = self.txn
            if self.filters is not None:
                self.filters.stop()
            if not self.aborted:
                self._abort()
            if self.server is not None:
                self._release_server()
            txn.t_active = time.monotonic() - txn.started
            if fe.access_log is not None and accepted and not self.upgraded:  # nor l4 rules' refusals
                fe.access_log(txn)
            fe.current_conns -= 1
            fe.fe_counters.close()
            stkctr = txn.stkctr
            if any(stkctr.slots):  # nothing tracked: nothing to count or release
                stkctr.end_stream(0, txn.bytes_in, txn.bytes_out)
                stkctr.end_session()
            txn.release()
            self.req.on_wait = None  # its bound _read_client held this stream in a cycle
            self.res.sink = _client_gone  # Lua may hold the channel long after: not the closed socket with it
            if self.readers:
                self.readers.clear()

    def _serve(self) -> None:
        self.res.sink = functools.partial(send_all, self.client)  # res.connect() with nothing to flush yet
        if self.frontend.tcp_filters:
            self.filters = tcp_filters.join(None, self.txn, self.frontend)
        self.req.on_wait = self.txn.before_wait = self._read_client
        rules = self.frontend.rules.get("tcp-request content")
        verdict = self._analyse(rules, self.req, self.res) if rules else ACCEPT
        if self.txn.service is not None:
            self._read_client()
            self._run_service()
            return
        backend = self.frontend.choose_backend(self.txn) if verdict is ACCEPT else None
        if verdict is ACCEPT and upgrade.wanted(self, backend):
            upgrade.hand_over(self)
            return
        if backend is not None and backend is not self.frontend:
            if backend.tcp_filters:
                self.filters = tcp_filters.join(self.filters, self.txn, backend)
            verdict = self._analyse(backend.ruleset("tcp-request content"), self.req, self.res)
        if verdict is not ACCEPT or backend is None:
            if verdict is REJECT:
                self.frontend.fe_counters.denied_req += 1
            self.txn.termination = _TERMINATION.get(verdict, "SC")
            self._finish(verdict)
            return
        self._read_client()
        self.txn.backend = backend
        backend.be_counters.open()
        started = time.monotonic()
        self.server = self._connect(backend)
        if self.server is None:
            self.txn.termination = "SC"
            backend.be_counters.conn_errors += 1
            if self.txn.server is not None:
                backend.counters_of(self.txn.server).conn_errors += 1
            backend.be_counters.close()
            self._finish(ERROR)
            return
        self.txn.t_connect = time.monotonic() - started
        self.req.connect(self.server.sendall)
        if self.filters is not None:
            self.filters.start_response()
            self.filters.tap(self.req)
        self.req.start_forwarding()
        if self.req.input_closed:
            if self.filters is not None:
                self.filters.closed(self.req)
            shutdown_write(self.server)
        server_timeout = backend.timeout("server")
        self.readers.append(gevent.spawn(self._pump, self.server, self.res, "req", server_timeout))
        response_rules = backend.ruleset("tcp-response content")
        if response_rules:
            self.res.wait_input(server_timeout)
            verdict = self._analyse(response_rules, self.res, self.req)
            if verdict is not ACCEPT:
                self._finish(verdict)
                return
        if self.filters is not None:
            self.filters.tap(self.res)
        self.res.start_forwarding()
        if self.res.input_closed:
            if self.filters is not None:
                self.filters.closed(self.res)
            shutdown_write(self.client)
        gevent.joinall(self.readers)

    def _read_client(self) -> None:
        """Start the client's reader, once."""
        if self.req.on_wait is not None:
            self.req.on_wait = self.txn.before_wait = None
            self.activity["req"] = self.activity["res"] = self.txn.started
            self.readers.append(gevent.spawn(self._pump, self.client, self.req, "res", self.frontend.timeout("client")))

    def _analyse(self, rules: list[Rule], channel: Channel, other: Channel) -> Verdict:
        """Evaluate a rule set in order; Lua may read *channel* but not *other*."""
        other.readable = False
        if channel is self.req:  # the inspect-delay: the frontend's for requests, the backend's for responses
            proxy, key = self.frontend, "tcp-request"
        else:
            proxy, key = self.txn.backend, "tcp-response"
        delay = proxy.inspect_delay.get(key, 0.0) if proxy is not None else 0.0
        try:
            if delay:  # without an inspect-delay, rules look at what is there and never wait
                deadline = time.monotonic() + delay
                verdict = run_rules(rules, self.txn, lambda rule: self._await_content(rule, channel, deadline),
                                    lambda rule: self._await_more(channel, deadline))
            else:
                verdict = run_rules(rules, self.txn)
        finally:
            other.readable = True
        return ERROR if self.aborted else verdict

    def _run_service(self) -> None:
        """tcp-request content use-service: the service talks to the client through both channels."""
        self.txn.termination = "LR"
        service, self.txn.service = self.txn.service, None
        service(self.txn)
        self._finish(DONE)

    def _await_content(self, rule: Rule, channel: Channel, deadline: float) -> None:
        """inspect-delay: a condition may look at content, so wait for the first bytes (bounded).

        HAProxy re-evaluates a rule whose fetch lacks data; luaproxy's conditions are
        true or false, so it waits for data before the first conditional rule instead.
        """
        if rule.condition is not None and deadline and not channel.input and not channel.input_closed:
            channel.wait_input(max(deadline - time.monotonic(), 0.0))
        while deadline and clienthello.incomplete(channel.input) and not channel.input_closed:
            # A TLS ClientHello split over several reads: req.ssl_* need all of it.
            if not channel.wait_more(len(channel.input), max(deadline - time.monotonic(), 0.0)):
                break

    def _await_more(self, channel: Channel, deadline: float) -> bool:
        """A condition lacked data: wait for more bytes until inspect-delay ends; True if some came."""
        remaining = deadline - time.monotonic() if deadline else 0.0
        if remaining <= 0 or channel.input_closed or len(channel.input) >= channel.bufsize:
            return False
        size = len(channel.input)
        channel.wait_more(size, remaining)
        return len(channel.input) > size

    def _connect(self, backend: Proxy) -> socket.socket | None:
        server = acquire_server(backend, self.txn)
        if server is None:
            return None
        sock = connect_server(backend, self.txn, server)
        if sock is not None:
            backend.counters_of(self.txn.server).open()
        return sock

    def _pump(self, sock: socket.socket, channel: Channel, other: str, timeout: float | None) -> None:
        """Read one side into its channel until EOF; a timeout ends the stream unless the
        other direction was active meanwhile (HAProxy counts both ways as activity).
        It yields after each read so a busy stream cannot starve the others."""
        sock.settimeout(timeout)
        while not self.aborted:
            try:
                data = sock.recv(READ_SIZE)
            except TimeoutError:
                if timeout and time.monotonic() - self.activity[other] < timeout:
                    continue
                if self.txn.termination == "--":  # client or server timeout in the data phase
                    self.txn.termination = "cD" if channel is self.req else "sD"
                self._abort()
                return
            except OSError:
                self._abort()
                return
            if not data:
                break
            self.activity[channel.name] = time.monotonic()
            self._count(channel, len(data))
            try:
                channel.feed(data)
            except OSError:
                self._abort()
                return
            channel.wait_for_room()
            gevent.sleep(0)
        channel.close_input()
        if channel.forwarding:
            peer = self.server if channel is self.req else self.client
            if peer is not None:
                if self.filters is not None:
                    try:
                        self.filters.closed(channel)
                    except OSError:
                        self._abort()
                        return
                shutdown_write(peer)

    def _count(self, channel: Channel, size: int) -> None:
        """Bytes read on one side: client bytes are the frontend's "in", server bytes its "out"."""
        txn, fe = self.txn, self.frontend
        backend = txn.backend
        server = backend.counters_of(txn.server) if backend is not None and txn.server is not None else None
        if channel is self.req:
            txn.bytes_in += size
            fe.fe_counters.bytes_in += size
            if backend is not None and server is not None:
                backend.be_counters.bytes_in += size
                server.bytes_in += size
        else:
            txn.bytes_out += size
            fe.fe_counters.bytes_out += size
            if backend is not None and server is not None:
                backend.be_counters.bytes_out += size
                server.bytes_out += size

    def _finish(self, verdict: Verdict) -> None:
        """End the stream without relaying: flush what the client is owed, then close."""
        if verdict is DONE and not self.aborted and self.res.output:
            with contextlib.suppress(OSError):
                self.res.flush()
        self._abort(graceful=verdict is DONE)

    def _abort(self, graceful: bool = False) -> None:
        """Stop both readers, wake any Lua action waiting on a channel, close the sockets."""
        if self.aborted:
            return
        self.aborted = True
        if self.readers:
            current = gevent.getcurrent()
            gevent.killall([r for r in self.readers if r is not current])
        self.req.close_input()
        self.res.close_input()
        if graceful:
            close_gracefully(self.client, self.txn.bytes_in > 0)
        else:
            self.client.close()
        if self.server is not None:
            self.server.close()

    def _release_server(self) -> None:
        """The connection to the server is over: its slot and counters."""
        server = self.txn.server
        backend = self.txn.backend
        if server is not None and backend is not None:
            backend.balancer.release(server)
            backend.counters_of(server).close()
            backend.be_counters.close()
