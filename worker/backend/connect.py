"""Connecting a stream to its server: ``retries`` and ``option redispatch``, counted as HAProxy counts them.

A failed connection is retried up to ``retries`` times.  With ``option
redispatch [interval]`` a retry goes to another server instead when its server
is down, when the algorithm is not hash-based and more than one active server
is usable (HAProxy's immediate redispatch, as haproxy 2.6 does it), or else at
the interval: every interval-th retry, or with a negative interval (the
default, -1) the last one (0: never at an interval, as in haproxy 2.6).  A
redispatch gives the failed server's slot back and takes another (the failed
server is avoided while another is usable); it counts in ``wredis`` where a
retry to the same server counts in ``wretr``.  The caller counts the final
failure in ``econ``, once per request.
"""

from __future__ import annotations

import socket
from typing import Any

import gevent

from ..conn.outbound import header_for
from ..netutil import connect
from ..proxy import Proxy, Server
from ..sticktable.persistence import sticky_server, store_request
from ..sticktable.table import freq_add, now_ms
from ..tls import handshake
from .attached import attach
from .cookie import cookie_server
from .dial import open_connection

_ANY = ("0.0.0.0", "::")
"""A server at these addresses connects to each client's destination address."""


def at_interval(interval: int, retry: int, retries: int) -> bool:
    """Whether retry number *retry* (from 1) is one ``option redispatch <interval>`` moves, by HAProxy's arithmetic."""
    if interval > 0:
        return retry % interval == 0
    period = retries + 1 + interval
    return interval < 0 and period > 0 and retry % period == 0


def redispatches(backend: Proxy, server: Server, retry: int) -> bool:
    if backend.redispatch is None:
        return False
    if not server.usable:
        return True
    if not backend.balancer.hash_based and len(backend.balancer.active()) > 1:
        return True
    return at_interval(backend.redispatch, retry, backend.retries)


def acquire_server(backend: Proxy, txn: Any, stream: Any = None) -> Server | None:
    """The balancer's server for *txn*, its slot taken (waiting in the queue while all are full), noted
    in ``txn.server``; None when the queue timeout expires or no server is usable.  An HTTP *stream*
    is noted as the client's (worker.backend.attached) only when its server changes (``stream.attached``)."""
    server = _rule_server(backend, txn) if backend.server_rules else None
    if server is None and backend.cookie is not None:
        server = cookie_server(backend, txn)
    if server is None and backend.stick_rules:
        server = sticky_server(backend, txn)
    if server is not None:
        backend.balancer.take(server)
    elif backend.balancer is not None:
        server = backend.balancer.take_lone() or backend.balancer.acquire(txn, _queue_timeout(backend))
    if server is not None:
        txn.server = server
        if stream is None:
            attach(server, txn.client, txn)
        elif stream.attached is not server:
            stream.attached = server
            attach(server, txn.client, stream)
        if backend.stick_rules:
            store_request(txn, server)
    return server


def _rule_server(backend: Proxy, txn: Any) -> Server | None:
    """The first ``use-server`` rule that applies names the server, if it can take traffic (else balancing
    decides, as haproxy does without ``option persist``)."""
    for rule in backend.server_rules:
        if rule.applies(txn):
            return rule.server if rule.server.usable else None
    return None


def connect_server(backend: Proxy, txn: Any, server: Server) -> socket.socket | None:
    """A socket to *server* (from ``acquire_server``) or, after a redispatch, to the server now in
    ``txn.server``; None once every attempt failed (the slot given back, as when the stream is aborted
    meanwhile: option abortonclose).

    A refused connection is retried on the same server after HAProxy's turn-around delay, the
    connect timeout up to one second; a timed-out one at once.
    """
    held: Server | None = server
    try:
        refused = False
        for attempt in range(1 + backend.retries):
            if attempt:
                txn.retries += 1
                if redispatches(backend, server, attempt):
                    held = None
                    server = _redispatch(backend, txn, server)
                    if server is None:
                        return None
                    held = server
                else:
                    backend.be_counters.retries += 1
                    backend.counters_of(server).retries += 1
                    if refused:
                        gevent.sleep(turn_around(backend))
            try:
                sock = _dial(backend, txn, server)
            except TimeoutError:
                refused = False
                continue
            except OSError:
                refused = True
                continue
            txn.server_conn = sock
            backend.be_counters.lb_total += 1
            backend.counters_of(server).lb_total += 1
            freq_add(server.sess_rate, 0, 1000, now_ms(), 1)  # type: ignore[arg-type]
            held = None
            return sock
        return None
    finally:
        if held is not None:
            backend.balancer.release(held)


def _dial(backend: Proxy, txn: Any, server: Server) -> socket.socket:
    """One connection attempt: TCP (or through SOCKS4), the PROXY header, TLS; raises OSError."""
    if server.socks4 is None:
        sock = connect(*destination(server, txn), backend.timeout("connect"))
    else:
        sock = open_connection(server.socks4, destination(server, txn), backend.timeout("connect"))
    send_header(sock, server, txn)
    if server.tls is not None:
        sock = handshake.connect(server.tls, sock, txn, backend.timeout("connect"))
    return sock


def turn_around(backend: Proxy) -> float:
    """The pause before retrying a server that refused: ``timeout connect``, at most one second."""
    connect_timeout = backend.timeout("connect")
    return min(1.0, connect_timeout) if connect_timeout else 1.0


def destination(server: Server, txn: Any) -> tuple[str, int]:
    """Where to connect: a server at 0.0.0.0 (or ::) takes the client's destination address, a server
    at port 0 its destination port (both as set-dst/set-dst-port left them)."""
    host = txn.dst if server.host in _ANY and txn.dst else server.host
    port = txn.dst_port if server.port == 0 and txn.dst_port else server.port
    return host, port


def connection_key(server: Server, txn: Any) -> tuple[tuple[Any, ...], bool]:
    """What makes a server connection fit a stream: where it goes, the SNI it sent and the PROXY
    header it started with (haproxy 2.6's connection hash); and whether the server follows each client's
    destination, whose connections are then never shared.  A key no transaction changes is kept in the
    server's ``pool_key``, which callers read first."""
    host, port = server.host, server.port
    follows = port == 0 or host in _ANY
    if follows:
        host, port = destination(server, txn)
    tls, send_proxy = server.tls, server.send_proxy
    sni = tls is not None and tls.sni is not None
    key = ((host, port), tls.sni(txn) if sni else None,  # type: ignore[union-attr]
           header_for(send_proxy, txn) if send_proxy is not None else None)
    if not (follows or sni or (send_proxy is not None and send_proxy.version)):
        server.pool_key = key
    return key, follows


def send_header(sock: socket.socket, server: Server, txn: Any) -> None:
    """``send-proxy[-v2]``: the PROXY header goes first, before TLS and before any request."""
    header = header_for(server.send_proxy, txn)
    if header is not None:
        try:
            sock.sendall(header)
        except OSError:
            sock.close()
            raise


def _queue_timeout(backend: Proxy) -> float | None:
    """``timeout queue``, which defaults to ``timeout connect`` as in HAProxy."""
    timeouts = backend.timeouts
    return timeouts.get("queue", timeouts.get("connect"))


def _redispatch(backend: Proxy, txn: Any, failed: Server) -> Server | None:
    backend.be_counters.redispatches += 1
    backend.counters_of(failed).redispatches += 1
    backend.balancer.release(failed)
    server = backend.balancer.acquire(txn, _queue_timeout(backend), exclude=failed)
    txn.server = server
    txn.redispatched = True
    return server
