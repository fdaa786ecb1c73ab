"""Idle keep-alive connections give their greenlet up (worker.http.park) and keep every behaviour:
the next request is served, the keep-alive timeout closes them, they keep their maxconn slot."""

from __future__ import annotations

import contextlib
import signal
import socket
import time

from tests.helpers import read_all

REQUEST = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def start(write, luaproxy, port, timeouts: str, extra_global: str = "") -> None:
    write("idle.lua", """
        core.register_service("hello", "http", function(applet)
           applet:set_status(200)
           applet:add_header("content-length", "5")
           applet:start_response()
           applet:send("hello")
        end)
        """)
    write("idle.cfg", f"""
        global
           lua-load idle.lua
           {extra_global}
        defaults
           mode http
           timeout connect 2s
           timeout client 5s
           {timeouts}
        frontend fe
           bind 127.0.0.1:{port}
           http-request use-service lua.hello
        """)
    luaproxy("-f", "idle.cfg", wait_port=port)


def response(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"hello"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _served_then_closed_after_keep_alive(sock: socket.socket) -> None:
    """One more request answered, then the connection closed without a 408 after its 1500 ms keep-alive time."""
    sock.sendall(REQUEST)
    assert response(sock).startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    assert read_all(sock, timeout=5) == b""  # closed, without a 408
    assert 1.2 <= time.monotonic() - started < 4


def test_a_connection_idle_past_the_parking_delay_serves_its_next_requests(write, luaproxy, port):
    start(write, luaproxy, port, "timeout http-keep-alive 4s")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for pause in (0, 1.0, 0.7):
            time.sleep(pause)
            s.sendall(REQUEST)
            assert response(s).startswith(b"HTTP/1.1 200")


def test_the_keep_alive_timeout_closes_a_parked_connection(write, luaproxy, port):
    start(write, luaproxy, port, "timeout http-keep-alive 1500ms")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        _served_then_closed_after_keep_alive(s)


def test_requests_closer_than_the_parking_delay_reuse_its_timer_and_the_keep_alive_timeout_still_fires(
        write, luaproxy, port):
    """The PARK_AFTER timer is kept across the waits between requests: one stopped by a request that came
    in time never fires later, and the connection still parks and closes on its keep-alive time."""
    start(write, luaproxy, port, "timeout http-keep-alive 1500ms")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for _ in range(4):  # 1.2 s in all, each wait shorter than PARK_AFTER
            s.sendall(REQUEST)
            assert response(s).startswith(b"HTTP/1.1 200")
            time.sleep(0.3)
        _served_then_closed_after_keep_alive(s)


def test_pipelined_requests_and_a_head_in_pieces_are_served_in_order(write, luaproxy, port):
    start(write, luaproxy, port, "timeout http-keep-alive 4s")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(REQUEST * 3)
        data = b""
        while data.count(b"hello") < 3:
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
        assert data.count(b"HTTP/1.1 200") == 3
        s.sendall(REQUEST[:10])
        time.sleep(0.2)
        s.sendall(REQUEST[10:] + b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        rest = read_all(s, timeout=5)
    assert rest.count(b"HTTP/1.1 200") == 2 and rest.endswith(b"hello")


def _answers(sock: socket.socket, answers: bytes, count: int) -> bytes:
    """*answers* read on until they hold *count* hello responses."""
    while answers.count(b"hello") < count:
        chunk = sock.recv(4096)
        assert chunk, answers
        answers += chunk
    return answers


def test_a_client_always_ahead_is_served_and_timed_out_as_any_other(write, luaproxy, port):
    """Each request sent before the previous answer is read: the stream's reads find the next one there, and after
    READY_STREAK of them it reads without a poll first.  Every request is answered in order, one after a pause
    too (the read that finds nothing waits as before), and the keep-alive timeout still closes the connection."""
    start(write, luaproxy, port, "timeout http-keep-alive 1500ms")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        answers = b""
        s.sendall(REQUEST)
        for sent in range(2, 33):
            s.sendall(REQUEST)
            answers = _answers(s, answers, sent - 1)  # up to the answer to the request before this one
        assert _answers(s, answers, 32).count(b"HTTP/1.1 200") == 32
        time.sleep(0.3)
        _served_then_closed_after_keep_alive(s)


def test_a_parked_connection_keeps_its_maxconn_slot(write, luaproxy, port):
    start(write, luaproxy, port, "timeout http-keep-alive 10s", "maxconn 1")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as first:
        first.sendall(REQUEST)
        assert response(first).startswith(b"HTTP/1.1 200")
        time.sleep(1.0)  # parked by now
        second = socket.create_connection(("127.0.0.1", port), timeout=5)
        second.sendall(REQUEST)
        second.settimeout(1.0)
        with contextlib.suppress(TimeoutError):
            early = second.recv(4096)
            raise AssertionError(f"a second connection was answered beyond maxconn 1: {early!r}")
        first.sendall(REQUEST)  # the parked one is still served
        assert response(first).startswith(b"HTTP/1.1 200")
    second.settimeout(5)
    assert response(second).startswith(b"HTTP/1.1 200")  # its turn once the first closed
    second.close()


def test_a_soft_stop_closes_a_parked_connection_and_the_worker_ends(write, luaproxy, port):
    write("idle.lua", "")
    write("idle.cfg", f"""
        defaults
           mode http
           timeout client 10s
           timeout http-keep-alive 10s
        frontend fe
           bind 127.0.0.1:{port}
           http-request return status 200 content-type text/plain string hello
        """)
    proc = luaproxy("-f", "idle.cfg", wait_port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
        idle.sendall(REQUEST)
        assert response(idle).startswith(b"HTTP/1.1 200")
        time.sleep(1.0)  # parked by now
        proc.signal(signal.SIGUSR1)
        started = time.monotonic()
        assert read_all(idle, 5) == b""
        assert time.monotonic() - started < 2
    assert proc.wait(10) == 0
