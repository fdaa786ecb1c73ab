"""ClientSocket: a TCP-mode connection's socket makes its event-loop watchers only when it first waits,
and behaves as gevent's socket before and after."""

from __future__ import annotations

import socket

import gevent
import pytest
from gevent import socket as gsocket

from luaproxy.worker.client_socket import ClientSocket
from luaproxy.worker.netutil import close_gracefully, recv_within, send_all


def pair() -> tuple[ClientSocket, socket.socket]:
    ours, peer = socket.socketpair()
    return ClientSocket(ours.family, ours.type, ours.proto, ours.detach(), gevent.get_hub()), peer


def test_no_watcher_until_a_wait() -> None:
    client, peer = pair()
    with peer:
        peer.sendall(b"ready")
        assert client.recv(10) == b"ready"
        send_all(client, b"reply")
        assert peer.recv(10) == b"reply"
        assert type(client._read_event) is int
        client.shutdown(socket.SHUT_WR)
        assert peer.recv(10) == b""
        client.close()
        assert client.fileno() == -1
        with pytest.raises(OSError):
            client.send(b"late")
        client.close()  # a second close is a no-op, as gevent's


def test_a_read_that_waits_and_times_out() -> None:
    client, peer = pair()
    with peer:
        gevent.spawn_later(0.05, peer.sendall, b"later")
        assert client.recv(10) == b"later"
        assert not isinstance(client._read_event, int)
        client.settimeout(0.05)
        with pytest.raises(TimeoutError):
            client.recv(10)
        peer.sendall(b"x")
        assert client.recv(10) == b"x"
        client.close()
        assert client.closed


def test_recv_within_makes_the_watcher() -> None:
    client, peer = pair()
    with peer:
        gevent.spawn_later(0.05, peer.sendall, b"late")
        assert recv_within(client, 10, 1.0) == b"late"
        with pytest.raises(TimeoutError):
            recv_within(client, 10, 0.05)
        client.close()


def test_shutdown_wakes_a_waiting_reader() -> None:
    client, peer = pair()
    with peer:
        reader = gevent.spawn(client.recv, 10)
        gevent.sleep(0.02)
        client.shutdown(socket.SHUT_RDWR)
        reader.join(1)
        assert reader.dead
        client.close()


def test_close_gracefully_drains_then_closes() -> None:
    client, peer = pair()
    with peer:
        peer.sendall(b"request")
        close_gracefully(client)
        assert client.closed and client.fileno() == -1
        assert peer.recv(10) == b""


def test_become_plain_for_http_code() -> None:
    client, peer = pair()
    with peer:
        client.become_plain()
        assert type(client) is gsocket.socket
        gevent.spawn_later(0.05, peer.sendall, b"h")
        assert client.recv(1) == b"h"
        client.close()


def test_detach_keeps_the_descriptor() -> None:
    client, peer = pair()
    with peer:
        fd = client.detach()
        with socket.socket(fileno=fd) as again:
            again.sendall(b"still open")
            assert peer.recv(20) == b"still open"
