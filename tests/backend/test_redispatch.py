"""Which connection retries ``option redispatch`` moves to another server (HAProxy 2.6's rules)."""

from __future__ import annotations

import pytest

from luaproxy.worker.backend import make_balancer
from luaproxy.worker.backend.connect import at_interval, redispatches
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
