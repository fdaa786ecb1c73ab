"""TCP to HTTP upgrade (haproxy 2.6): a TCP stream becomes an HTTP one.

It happens once the frontend's ``tcp-request content`` rules are done, when one
of them ran ``switch-mode http [proto h1|h2]`` or when the chosen backend is in
HTTP mode.  The HTTP stream goes on from the bytes the rules inspected, in the
TCP stream's greenlet: its first request keeps the TCP transaction's variables
and does not run the content rules again (they ran on this stream already);
the next requests, and the streams of an HTTP/2 connection, run them as usual.
A ``bind ... proto none`` listener cannot change its mux: the connection closes.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import gevent

from ..client_socket import ClientSocket
from ..filters import chain as filters
from ..http.server_pool import ServerPool
from ..http.stream import ClientGone, HttpStream
from ..sticktable.tracking import Trackers
from ..txn import Transaction

if TYPE_CHECKING:
    from .stream import TcpStream


def wanted(stream: TcpStream, backend: Any) -> bool:
    """Whether the stream must leave TCP mode now (switch-mode http, or an HTTP backend)."""
    return stream.txn.switch_mode is not None or (backend is not None and backend.mode == "http")


def hand_over(stream: TcpStream) -> None:
    """Serve the rest of the connection as HTTP; the TCP stream only tears down once this returns."""
    gevent.killall([r for r in stream.readers if r is not gevent.getcurrent()])
    stream.readers.clear()
    fe = stream.frontend
    if stream.txn.so_id in fe.raw_binds:
        stream.txn.termination = "PR"  # haproxy: this listener's mux cannot become HTTP
        return
    stream.upgraded = True
    if type(stream.client) is ClientSocket:
        stream.client.become_plain()
    pool = ServerPool()  # this connection's idle server connections, closed with it
    try:
        UpgradedStream(stream.worker, fe, stream.client, stream.txn.so_id, pool).take_over(stream.txn,
                                                                                      bytes(stream.req.input))
    finally:
        pool.close_all()
        stream.txn.stkctr = Trackers()  # the HTTP stream ended the session's tracking already


class UpgradedStream(HttpStream):
    """An HttpStream serving a connection a TCP stream accepted: never parked (the TCP stream's greenlet
    owns the connection until it ends), and its first request is the TCP transaction's."""

    def take_over(self, tcp_txn: Transaction, received: bytes) -> None:
        self.tcp_txn: Transaction | None = tcp_txn
        self.h1_only = tcp_txn.switch_mode == "h1"
        self.full_plan = self.plan
        self.plan = dataclasses.replace(self.plan, tcp_content=None)
        self.session_vars = tcp_txn.vars
        self.trackers = tcp_txn.stkctr
        self.addresses = (tcp_txn.src, tcp_txn.src_port), (tcp_txn.dst, tcp_txn.dst_port)  # set-src… kept
        fe = self.frontend
        fe.current_conns += 1  # _close() counts this connection out, and so does the TCP stream after
        fe.fe_counters.current += 1
        if received:  # no bytes would tell the parser the client closed
            self.front.receive_data(received)
        try:
            self._serve(True)
        except (ClientGone, filters.FilterAborted):
            if self.txn is not None:
                self._end(self.txn, "CD")
        finally:
            self._close()

    def _new_txn(self, head: Any) -> Transaction:
        txn = super()._new_txn(head)
        if self.tcp_txn is not None:
            txn.vars = self.tcp_txn.vars
            self.tcp_txn = None
        else:
            self.plan = self.full_plan
        return txn

    def _park(self, remaining: float | None) -> bool:
        return False

    def _switch_to_h2(self) -> bool:
        if self.h1_only:  # switch-mode http proto h1: HTTP/2's preface is a bad request
            self.frontend.fe_counters.failed_req += 1
            self._send_reply(self.pages.reply(400))
            return False
        return super()._switch_to_h2()
