"""Which connection retries ``option redispatch`` moves to another server (HAProxy 2.6's rules)."""

from __future__ import annotations

import socket
import time

import pytest

from luaproxy.worker.backend import make_balancer
from luaproxy.worker.backend.connect import acquire_server, at_interval, connect_server, redispatches, turn_around
from luaproxy.worker.proxy import Proxy

from .kit import farm


@pytest.mark.parametrize(("interval", "retries", "moved"), [
    (-1, 3, [3]),          # the default: the last retry
    (-2, 4, [3]),          # retries done % (retries + 1 + interval) == 0
    (1, 3, [1, 2, 3]),     # every retry
    (2, 6, [2, 4, 6]),     # every second retry
    (0, 3, []),            # never at an interval
    (-5, 3, []),           # before the first retry: never
])
def test_interval_arithmetic(interval, retries, moved):
    assert [retry for retry in range(1, retries + 1) if at_interval(interval, retry, retries)] == moved


def backend(algorithm: tuple[str, ...], servers: int, redispatch: int | None) -> Proxy:
    farm_servers = farm(*[1] * servers)
    return Proxy("be", 2, "http", False, True, servers=farm_servers, retries=3, redispatch=redispatch,
                 balancer=make_balancer(algorithm, farm_servers, {}))


def test_without_the_option_nothing_moves():
    be = backend(("roundrobin",), 2, None)
    assert not any(redispatches(be, be.servers[0], retry) for retry in (1, 2, 3))


def test_non_hash_algorithm_with_another_server_moves_at_once():
    be = backend(("roundrobin",), 2, 0)
    assert redispatches(be, be.servers[0], 1)


def test_hash_algorithm_waits_for_the_interval():
    be = backend(("source",), 2, -1)
    assert [retry for retry in (1, 2, 3) if redispatches(be, be.servers[0], retry)] == [3]


def test_a_lone_server_waits_for_the_interval():
    be = backend(("roundrobin",), 1, -1)
    assert [retry for retry in (1, 2, 3) if redispatches(be, be.servers[0], retry)] == [3]


def test_a_refused_server_is_retried_after_the_turn_around_pause():
    """haproxy waits min(1 s, timeout connect) before retrying a server that refused; the slot is given
    back once every attempt failed."""
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    be = backend(("roundrobin",), 1, None)
    be.retries, be.timeouts = 2, {"connect": 0.1}
    be.servers[0].port = port
    assert turn_around(be) == 0.1 and turn_around(Proxy("x", 3, "http", False, True)) == 1.0

    class Txn:
        server = None
        client = None
        retries = 0
        redispatched = False

    txn = Txn()
    server = acquire_server(be, txn)
    started = time.monotonic()
    assert connect_server(be, txn, server) is None
    assert 0.2 <= time.monotonic() - started < 1.0  # two pauses of 100 ms
    assert (txn.retries, server.current_conns) == (2, 0)
