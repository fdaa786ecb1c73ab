"""The stream's socket helpers and per-proxy plan: reads bounded without gevent.Timeout, sends in one go."""

from __future__ import annotations

import time

import gevent
import pytest
from gevent import socket as gsocket

from luaproxy.worker.http.connection import Connection
from luaproxy.worker.http.plan import plan_of
from luaproxy.worker.http.server_pool import ServerConnection
from luaproxy.worker.http.state import CLIENT
from luaproxy.worker.netutil import input_poll, recv_within, send_all
from luaproxy.worker.proxy import Proxy, Rule


@pytest.fixture
def pair():
    a, b = gsocket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_data_already_there_is_read_without_waiting(pair):
    a, b = pair
    b.sendall(b"hello")
    gevent.sleep(0)
    assert recv_within(a, 100, 0.5) == b"hello"


def test_a_silent_peer_times_out_and_the_timer_is_gone_after(pair):
    a, b = pair
    a.settimeout(5.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        recv_within(a, 100, 0.2)
    assert 0.15 <= time.monotonic() - started < 2.0
    assert a.timeout == 5.0  # the socket's own timeout (what bounds sends) is left alone
    gevent.sleep(0.3)  # no late throw from the expired or a leftover timer
    gevent.spawn_later(0.05, b.sendall, b"late")
    assert recv_within(a, 100, 1.0) == b"late"


def test_data_arriving_while_waiting_is_read(pair):
    a, b = pair
    gevent.spawn_later(0.05, b.sendall, b"x")
    assert recv_within(a, 100, None) == b"x"


def test_a_closed_peer_reads_as_end(pair):
    a, b = pair
    gevent.spawn_later(0.05, b.close)
    assert recv_within(a, 100, 1.0) == b""


def test_send_all_finishes_a_partial_send(pair):
    a, b = pair
    payload = bytes(range(256)) * 20000  # far beyond a socket buffer: the first send is partial
    received = bytearray()

    def read() -> None:
        while len(received) < len(payload):
            received.extend(b.recv(65536))

    reader = gevent.spawn(read)
    send_all(a, payload)
    reader.join(5)
    assert bytes(received) == payload


def test_the_plan_reads_rules_timeouts_and_options_once():
    proxy = Proxy("fe", 1, "http", True, True, timeouts={"client": 5.0, "http-keep-alive": 1.0},
                  options={"httpclose": True, "http-restrict-req-hdr-names": "reject"},
                  rules={"http-request": [Rule(lambda txn: None)], "tcp-request content": []})
    plan = plan_of(proxy)
    assert plan_of(proxy) is plan
    assert plan.http_request and plan.tcp_content is None and not plan.response_rules
    assert (plan.client, plan.request, plan.keep_alive) == (5.0, 5.0, 1.0)
    assert plan.httpclose and not plan.server_close and plan.restrict_names


def test_an_idle_pooled_connection_is_reused_unless_its_server_spoke_or_closed():
    for after in (None, b"stray", "close"):
        a, b = gsocket.socketpair()
        try:
            if after == "close":
                b.close()
            elif after is not None:
                b.sendall(after)
            gevent.sleep(0)
            assert bool(input_poll(a).poll(0)) is (after is not None)
        finally:
            a.close()
            b.close()
    assert input_poll(a).poll(0)  # a closed socket (fileno -1) is unusable too


def test_a_server_connection_reads_with_one_timer_rearmed(pair):
    a, b = pair
    conn = ServerConnection(None, a, Connection(CLIENT))
    b.sendall(b"ready")
    gevent.sleep(0)
    assert conn.receive(100, 1.0) == b"ready"  # there already: the poll says so, one recv
    timer = conn.timer
    gevent.spawn_later(0.05, b.sendall, b"waited")
    assert conn.receive(100, 1.0) == b"waited"
    for _ in range(2):  # the same timer times each wait out, then is stopped, not left armed
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            conn.receive(100, 0.1)
        assert 0.05 <= time.monotonic() - started < 2.0
    assert conn.timer is not timer and not conn.timer.active  # another timeout: another timer
    gevent.sleep(0.2)  # no late throw
    gevent.spawn_later(0.05, b.sendall, b"late")
    assert conn.receive(100, None) == b"late"
    b.close()
    assert conn.receive(100, 1.0) == b""
    conn.close()
    assert not conn.timer.active


def test_a_kept_timer_waits_its_whole_timeout_each_time(pair):
    a, b = pair
    timer = gevent.get_hub().loop.timer(0.3, 0.3)
    try:
        gevent.spawn_later(0.2, b.sendall, b"x")
        assert recv_within(a, 100, 0.3, False, timer) == b"x"  # stopped with 0.1 s left
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            recv_within(a, 100, 0.3, False, timer)
        assert 0.25 <= time.monotonic() - started < 2.0  # the whole 0.3 s again, not what was left
        assert not timer.active
    finally:
        timer.close()
