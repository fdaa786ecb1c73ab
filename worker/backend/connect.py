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

from ..netutil import connect
from ..proxy import Proxy, Server


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
    if not backend.balancer.hash_based and sum(1 for s in backend.servers if s.usable and not s.backup) > 1:
        return True
    return at_interval(backend.redispatch, retry, backend.retries)


def connect_server(backend: Proxy, txn: Any, server: Server, timeout: float | None,
                   queue_timeout: float | None) -> socket.socket | None:
    """A socket to *server* (the balancer's choice, its slot taken) or, after a redispatch, to the
    server now in ``txn.server``; None once every attempt failed (the slot given back)."""
    for attempt in range(1 + backend.retries):
        if attempt:
            txn.retries += 1
            if redispatches(backend, server, attempt):
                server = _redispatch(backend, txn, server, queue_timeout)
                if server is None:
                    return None
            else:
                backend.be_counters.retries += 1
                backend.counters_of(server).retries += 1
        try:
            sock = connect(server.host, server.port, timeout)
        except OSError:
            continue
        backend.be_counters.lb_total += 1
        backend.counters_of(server).lb_total += 1
        return sock
    backend.balancer.release(server)
    return None


def _redispatch(backend: Proxy, txn: Any, failed: Server, queue_timeout: float | None) -> Server | None:
    backend.be_counters.redispatches += 1
    backend.counters_of(failed).redispatches += 1
    backend.balancer.release(failed)
    server = backend.balancer.acquire(txn, queue_timeout, exclude=failed)
    txn.server = server
    txn.redispatched = True
    return server
