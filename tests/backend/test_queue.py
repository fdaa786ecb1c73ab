"""The queue in front of full servers: acquire waits for a slot, release hands it on."""

from __future__ import annotations

import time

import gevent

from luaproxy.worker.backend import make_balancer
from luaproxy.worker.backend.state import OpState

from .kit import Txn, farm

TXN = Txn()


def test_acquire_counts_the_connection_and_release_frees_it():
    servers = farm(1)
    balancer = make_balancer(("roundrobin",), servers, {})
    server = balancer.acquire(TXN, 1.0)
    assert server is servers[0] and server.current_conns == 1
    balancer.release(server)
    assert server.current_conns == 0


def test_waiters_get_freed_slots_in_arrival_order():
    servers = farm(1, 1)
    for server in servers:
        server.maxconn = 1
    balancer = make_balancer(("roundrobin",), servers, {})
    holders = [balancer.acquire(TXN, 1.0), balancer.acquire(TXN, 1.0)]
    order: list[str] = []

    def wait(name: str) -> None:
        if balancer.acquire(TXN, 2.0) is not None:
            order.append(name)

    waiting = [gevent.spawn(wait, name) for name in ("first", "second")]
    gevent.sleep(0.05)
    assert balancer.queued == 2 and order == []
    balancer.release(holders[0])
    gevent.sleep(0.05)
    assert order == ["first"] and balancer.queued == 1
    balancer.release(holders[1])
    gevent.joinall(waiting, timeout=2)
    assert order == ["first", "second"] and balancer.queued == 0


def test_queue_timeout_gives_none():
    servers = farm(1)
    servers[0].maxconn = 1
    balancer = make_balancer(("roundrobin",), servers, {})
    assert balancer.acquire(TXN, 1.0) is servers[0]
    started = time.monotonic()
    assert balancer.acquire(TXN, 0.1) is None
    assert 0.09 <= time.monotonic() - started < 1.0 and balancer.queued == 0


def test_no_usable_server_does_not_queue():
    servers = farm(1)
    servers[0].op_state = OpState.DOWN
    balancer = make_balancer(("roundrobin",), servers, {})
    started = time.monotonic()
    assert balancer.acquire(TXN, 5.0) is None
    assert time.monotonic() - started < 0.1


def test_hash_waits_for_its_own_server():
    servers = farm(1, 1)
    balancer = make_balancer(("source",), servers, {})
    home = balancer.pick(Txn("192.0.2.9"))
    home.maxconn = 1
    held = balancer.acquire(Txn("192.0.2.9"), 1.0)
    waiter = gevent.spawn(balancer.acquire, Txn("192.0.2.9"), 2.0)
    gevent.sleep(0.05)
    assert not waiter.ready()
    balancer.release(held)
    assert waiter.get(timeout=2) is home
