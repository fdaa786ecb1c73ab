"""Connection behaviour: keep-alive, pipelining, bodiless responses, 1xx, 100-continue, switches, errors.

Statuses and Connection headers were compared with HAProxy 2.6.12 (Debian):
it closes after an HTTP/1.0 request unless asked for keep-alive (and then says
``connection: keep-alive``), closes on ``Connection: keep-alive, close`` and on
``CLOSE``, answers a pipelined request only after the one before it, and
answers 400 once a request head outgrows its buffer.
"""

from __future__ import annotations

import pytest

from luaproxy.worker.http import (
    DEFAULT_MAX_HEAD_SIZE,
    NEED_DATA,
    PAUSED,
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Headers,
    InformationalResponse,
    LocalProtocolError,
    RemoteProtocolError,
    Request,
    RequestHead,
    Response,
    ResponseHead,
)
from luaproxy.worker.http.state import (
    CLIENT,
    DONE,
    ERROR,
    IDLE,
    MIGHT_SWITCH_PROTOCOL,
    MUST_CLOSE,
    SEND_BODY,
    SERVER,
    SWITCHED_PROTOCOL,
)
from tests.http.httpkit import drain


def response(status: int = 200, *fields: tuple[str, str], version: str = "HTTP/1.1") -> Response:
    return Response(ResponseHead(status, "X", version, Headers(list(fields))))


def request(method: str = "GET", *fields: tuple[str, str], target: str = "/") -> Request:
    return Request(RequestHead(method, target, "HTTP/1.1", Headers([("Host", "a"), *fields])))


def answer(conn: Connection, resp: Response, body: bytes = b"") -> bytes:
    out = conn.send(resp)
    if body:
        out += conn.send(Data(body))
    return out + conn.send(EndOfMessage())


def server_with(data: bytes) -> Connection:
    conn = Connection(SERVER)
    conn.receive_data(data)
    return conn


# Keep-alive and pipelining.


def test_keep_alive_cycles_reuse_the_connection() -> None:
    conn = Connection(SERVER)
    for i in range(3):
        assert conn.states == {CLIENT: IDLE, SERVER: IDLE}
        conn.receive_data(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
        events = drain(conn)
        assert events[0].head.target == f"/{i}"
        wire = answer(conn, response(200, ("Content-Length", "0")))
        assert wire == b"HTTP/1.1 200 X\r\nContent-Length: 0\r\n\r\n"
        conn.start_next_cycle()


def test_pipelined_request_waits_for_the_response() -> None:
    conn = server_with(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert [type(e) for e in drain(conn)] == [Request, EndOfMessage]
    assert conn.next_event() is PAUSED
    answer(conn, response(204))
    conn.start_next_cycle()
    second = conn.next_event()
    assert isinstance(second, Request) and second.head.target == "/2"


@pytest.mark.parametrize(
    ("version", "connection", "keeps"),
    [
        ("HTTP/1.1", None, True),
        ("HTTP/1.1", "close", False),
        ("HTTP/1.1", "CLOSE", False),
        ("HTTP/1.1", "keep-alive, close", False),
        ("HTTP/1.0", None, False),
        ("HTTP/1.0", "keep-alive", True),
        ("HTTP/1.0", "Keep-Alive", True),
    ],
)
def test_keep_alive_decision(version: str, connection: str | None, keeps: bool) -> None:
    head = f"GET / {version}\r\n" + (f"Connection: {connection}\r\n" if connection else "") + "\r\n"
    conn = server_with(head.encode())
    drain(conn)
    wire = answer(conn, response(200, ("Content-Length", "2")), b"ok")
    assert conn.our_state is (DONE if keeps else MUST_CLOSE)
    if keeps:
        conn.start_next_cycle()
    else:
        assert b"\r\nConnection: close\r\n" in wire
        with pytest.raises(LocalProtocolError):
            conn.start_next_cycle()


def test_http10_client_kept_alive_is_told_so() -> None:
    conn = server_with(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    drain(conn)
    wire = answer(conn, response(200, ("Content-Length", "2")), b"ok")
    assert wire == b"HTTP/1.1 200 X\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


def test_server_closing_ends_reuse() -> None:
    conn = server_with(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    drain(conn)
    wire = answer(conn, response(200, ("Content-Length", "0"), ("Connection", "close")))
    assert wire.endswith(b"Connection: close\r\n\r\n")
    assert conn.our_state is MUST_CLOSE


def test_client_half_close_after_request_still_gets_its_response() -> None:
    conn = server_with(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.receive_data(b"")
    assert [type(e) for e in drain(conn)] == [Request, EndOfMessage, ConnectionClosed]
    answer(conn, response(200, ("Content-Length", "0")))
    assert conn.our_state is MUST_CLOSE


def test_idle_backend_closing_is_a_clean_close() -> None:
    conn = Connection(CLIENT)
    conn.receive_data(b"")
    assert isinstance(conn.next_event(), ConnectionClosed)
    assert conn.our_state is MUST_CLOSE


def test_bytes_after_a_closing_exchange_are_left_alone() -> None:
    conn = server_with(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
    drain(conn)
    answer(conn, response(204))
    assert conn.next_event() is PAUSED
    assert conn.our_state is MUST_CLOSE


# Bodiless responses and interim responses.


def test_head_response_has_no_body_on_either_side() -> None:
    client = Connection(CLIENT)
    client.send(request("HEAD"))
    client.send(EndOfMessage())
    client.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert [type(e) for e in drain(client)] == [Response, EndOfMessage]
    server = server_with(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    drain(server)
    assert server.send(response(200, ("Content-Length", "5"))).endswith(b"Content-Length: 5\r\n\r\n")
    assert server.send(Data(b"")) == b""
    assert server.send(Data(b"x")) == b""  # a body the server sent anyway (set-method HEAD→GET) is dropped


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body(status: int) -> None:
    server = server_with(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    drain(server)
    wire = answer(server, response(status, ("Content-Length", "5")))
    assert wire.endswith(b"\r\n\r\n")
    assert server.our_state is DONE


def test_interim_responses_precede_the_final_one() -> None:
    server = server_with(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    drain(server)
    wire = server.send(InformationalResponse(ResponseHead(100, "Continue")))
    hints = ResponseHead(103, "Early Hints", headers=Headers([("Link", "</s>")]))
    wire += server.send(InformationalResponse(hints))
    wire += answer(server, response(200, ("Content-Length", "2")), b"ok")
    client = Connection(CLIENT)
    client.send(request())
    client.send(EndOfMessage())
    client.receive_data(wire)
    kinds = [type(e) for e in drain(client)]
    assert kinds == [InformationalResponse, InformationalResponse, Response, Data, EndOfMessage]


def test_interim_status_must_be_1xx() -> None:
    with pytest.raises(LocalProtocolError):
        InformationalResponse(ResponseHead(200))
    with pytest.raises(LocalProtocolError):
        Response(ResponseHead(100))


# Expect: 100-continue.


def test_expect_continue_is_visible_until_answered() -> None:
    server = server_with(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n")
    assert isinstance(server.next_event(), Request)
    assert server.they_are_waiting_for_100_continue
    assert server.next_event() is NEED_DATA
    interim = server.send(InformationalResponse(ResponseHead(100, "Continue")))
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert not server.they_are_waiting_for_100_continue
    server.receive_data(b"ok")
    assert server.next_event() == Data(b"ok")


def test_expect_continue_ends_when_the_body_starts() -> None:
    server = server_with(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\no")
    drain(server)
    assert not server.they_are_waiting_for_100_continue


def test_expect_continue_is_ignored_on_http10() -> None:
    server = server_with(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    server.next_event()
    assert not server.they_are_waiting_for_100_continue


# Protocol switches: Upgrade and CONNECT become tunnels.

UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")


def test_server_side_upgrade_accepted() -> None:
    server = server_with(UPGRADE + b"\x81\x00frame")
    assert [type(e) for e in drain(server)] == [Request, EndOfMessage]
    assert server.their_state is MIGHT_SWITCH_PROTOCOL
    assert server.next_event() is PAUSED
    switch = ResponseHead(101, "Switching Protocols", headers=Headers([
        ("Upgrade", "websocket"), ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")]))
    server.send(InformationalResponse(switch))
    assert server.states == {CLIENT: SWITCHED_PROTOCOL, SERVER: SWITCHED_PROTOCOL}
    assert server.trailing_data == (b"\x81\x00frame", False)
    assert server.next_event() is PAUSED


def test_server_side_upgrade_declined_keeps_http() -> None:
    server = server_with(UPGRADE)
    drain(server)
    answer(server, response(200, ("Content-Length", "0")))
    assert server.states == {CLIENT: DONE, SERVER: DONE}
    server.start_next_cycle()


def test_client_side_upgrade_and_connect() -> None:
    client = Connection(CLIENT)
    client.send(request("GET", ("Connection", "upgrade"), ("Upgrade", "h2c")))
    client.send(EndOfMessage())
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\ntunnel")
    assert isinstance(client.next_event(), InformationalResponse)
    assert client.next_event() is PAUSED
    assert client.trailing_data == (b"tunnel", False)
    tunnel = Connection(CLIENT)
    tunnel.send(Request(RequestHead("CONNECT", "a:443", headers=Headers([("Host", "a:443")]))))
    tunnel.send(EndOfMessage())
    tunnel.receive_data(b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03")
    assert isinstance(tunnel.next_event(), Response)
    assert tunnel.states == {CLIENT: SWITCHED_PROTOCOL, SERVER: SWITCHED_PROTOCOL}
    assert tunnel.trailing_data == (b"\x16\x03", False)


def test_refused_connect_gets_a_body() -> None:
    client = Connection(CLIENT)
    client.send(Request(RequestHead("CONNECT", "a:443", headers=Headers([("Host", "a:443")]))))
    client.send(EndOfMessage())
    client.receive_data(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
    assert [type(e) for e in drain(client)] == [Response, Data, EndOfMessage]
    assert client.states == {CLIENT: DONE, SERVER: DONE}


def test_switch_before_the_request_is_complete_is_refused() -> None:
    client = Connection(CLIENT)
    client.send(request("POST", ("Connection", "upgrade"), ("Upgrade", "x"), ("Content-Length", "5")))
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    with pytest.raises(RemoteProtocolError) as caught:
        client.next_event()
    assert caught.value.status_hint == 502


# Errors and limits.


def test_after_a_bad_request_we_can_still_answer_then_close() -> None:
    server = server_with(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n")
    with pytest.raises(RemoteProtocolError) as caught:
        server.next_event()
    assert caught.value.status_hint == 400
    assert server.their_state is ERROR
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    wire = answer(server, response(400, ("Content-Length", "0")))
    assert b"Connection: close" in wire
    assert server.our_state is MUST_CLOSE


def test_head_size_limit_is_exact() -> None:
    def head(size: int) -> bytes:
        base = b"GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n"
        return base.replace(b"X: ", b"X: " + b"a" * (size - len(base)))

    assert isinstance(server_with(head(DEFAULT_MAX_HEAD_SIZE)).next_event(), Request)
    with pytest.raises(RemoteProtocolError):
        server_with(head(DEFAULT_MAX_HEAD_SIZE + 1)).next_event()
    incomplete = server_with(head(DEFAULT_MAX_HEAD_SIZE + 10)[:-4])
    with pytest.raises(RemoteProtocolError):
        incomplete.next_event()


def test_a_start_no_request_line_can_have_is_refused_at_once() -> None:
    """A TLS hello sent to an HTTP listener gets its 400 at once (haproxy does; a health check's
    ssl-hello-chk judges that answer), not when the head limit or a timeout is reached."""
    tls_hello = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"
    with pytest.raises(RemoteProtocolError):
        server_with(tls_hello).next_event()
    for partial in (b"GE", b"\r\nGET", b"GET /pa", b"PROPFIND"):
        assert server_with(partial).next_event() is NEED_DATA


def test_limits_are_constructor_arguments() -> None:
    conn = Connection(SERVER, max_head_size=100, max_headers=2)
    conn.receive_data(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
    with pytest.raises(RemoteProtocolError, match="more than 2"):
        conn.next_event()


def test_data_after_eof_is_a_caller_bug() -> None:
    conn = Connection(SERVER)
    conn.receive_data(b"")
    with pytest.raises(RuntimeError):
        conn.receive_data(b"x")


@pytest.mark.parametrize(
    "fields",
    [
        [("X", "a\r\nInjected: 1")],
        [("X", "a\nb")],
        [("X", "a\x00")],
        [("Bad Name", "a")],
        [("X", "caf\u20ac")],
    ],
)
def test_sending_a_broken_head_is_refused(fields: list[tuple[str, str]]) -> None:
    client = Connection(CLIENT)
    with pytest.raises(LocalProtocolError):
        client.send(Request(RequestHead("GET", "/", headers=Headers(fields))))
    assert client.our_state is ERROR
    with pytest.raises(LocalProtocolError):
        client.send(EndOfMessage())


def test_sending_contradicting_framing_drops_the_length() -> None:
    """A rule that put a Content-Length next to chunks: the chunks win, the next hop sees them only."""
    client = Connection(CLIENT)
    data = client.send(request("POST", ("Content-Length", "3"), ("Transfer-Encoding", "chunked")))
    assert b"content-length" not in data.lower() and b"Transfer-Encoding: chunked" in data
    assert client.send(Data(b"abc")) + client.send(EndOfMessage()) == b"3\r\nabc\r\n0\r\n\r\n"


def test_content_length_is_enforced_on_send() -> None:
    client = Connection(CLIENT)
    client.send(request("POST", ("Content-Length", "3")))
    client.send(Data(b"ab"))
    with pytest.raises(LocalProtocolError):
        client.send(Data(b"cd"))
    other = Connection(CLIENT)
    other.send(request("POST", ("Content-Length", "3")))
    other.send(Data(b"ab"))
    with pytest.raises(LocalProtocolError):
        other.send(EndOfMessage())


def test_events_out_of_order_are_refused() -> None:
    with pytest.raises(LocalProtocolError):
        Connection(CLIENT).send(Data(b"x"))
    with pytest.raises(LocalProtocolError):
        Connection(SERVER).send(InformationalResponse(ResponseHead(100)))


def test_early_response_while_the_request_body_is_still_going() -> None:
    client = Connection(CLIENT)
    client.send(request("POST", ("Content-Length", "1000")))
    client.send(Data(b"x" * 10))
    client.receive_data(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    assert [type(e) for e in drain(client)] == [Response, EndOfMessage]
    assert client.states == {CLIENT: SEND_BODY, SERVER: MUST_CLOSE}
