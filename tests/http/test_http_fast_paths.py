"""The fast paths agree with the line-by-line reference: same fields, same errors, same states.

Clean heads are parsed in two regex calls and outgoing fields checked all at
once; these tests hold both to the per-line grammar they shortcut.
"""

from __future__ import annotations

import copy
import gc
import pickle
import weakref
from typing import Any

import pytest

from luaproxy.worker.http import (
    Connection,
    Data,
    EndOfMessage,
    Headers,
    LocalProtocolError,
    RemoteProtocolError,
    Request,
    RequestHead,
    Response,
    ResponseHead,
    grammar,
)
from luaproxy.worker.http.events import NEED_DATA, PAUSED
from luaproxy.worker.http.framing import response_framing
from luaproxy.worker.http.grammar import (
    _TOKEN_RE,
    _VALUE_RE,
    REQUEST_LINE,
    STATUS_LINE,
    check_fields,
    check_status_line,
    parse_fields,
    split_head,
)
from luaproxy.worker.http.pages import Reply
from luaproxy.worker.http.state import (
    CLIENT,
    DONE,
    EVENT_TRIGGERED_TRANSITIONS,
    IDLE,
    SEND_BODY,
    SEND_RESPONSE,
    SERVER,
    ConnectionState,
)
from luaproxy.worker.http.writers import chunked_whole, whole_response, write_response

MAX_HEADERS = 4

REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\n\n",
    b"GET\t/x?y  HTTP/1.0\r\nHost:a\nX:  \t \r\nY:\r\n\r\n",
    b"purge-All * HTTP/1.2\r\nX-L: caf\xe9 \x85\xa0\xff\r\nX-C: a: b, c\t\r\n\r\n",
    b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
    b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\r\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
    b"GET / HTTP/1.1\r\nX : a\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    b"GET / HTTP/1.1\r\n: a\r\n\r\n",
    b"GET / HTTP/1.1 \r\nX: a\r\n\r\n",
    b"GET /a b HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\rX: a\r\n\r\n",
]

RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 204\tNo  Content \r\n\r\n",
    b"HTTP/1.1 404 Pas trouv\xe9\nContent-Length: 0\n\n",
    b"HTTP/1.1 600 Nope\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 099 Nope\r\nX: a\rb\r\n\r\n",
    b"HTTP/1.1 200 O\x01K\r\n\r\n",
    b"HTTP/1.1 200 OK\r\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
]


UNCHANGED_REQUESTS = [*REQUESTS, b"GET /a?b HTTP/1.0\r\nX: a  b\r\nY: \r\n\r\n", b"GET / HTTP/1.1\r\nX:  a\r\n\r\n",
                      b"GET / HTTP/1.1\r\nX: a \r\n\r\n", b"GET  / HTTP/1.1\r\n\r\n",
                      b"GET / HTTP/1.1\r\nX: \r\n\r\n", b"GET / HTTP/1.1\r\nHost: a\r\n\n", b"GET / HTTP/1.1\r\n\n"]
UNCHANGED_RESPONSES = [*RESPONSES, b"HTTP/1.1 200  OK\r\n\r\n", b"HTTP/1.1 200 OK \r\nX: a\t\r\n\r\n",
                       b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", b"HTTP/1.1 200 \r\nX: a b\r\n\r\n",
                       b"HTTP/1.1 200 OK \r\n\r\n", b"HTTP/1.1 200 OK\r\nX:a\r\n\r\n"]
"""More heads, written as the writers write them or nearly: the text kept for writing as read."""


def _reference_request(raw: bytes) -> tuple | str:
    """What the line-by-line grammar makes of a request head."""
    try:
        lines = split_head(raw.decode("latin-1"))
        match = REQUEST_LINE.fullmatch(lines[0])
        if match is None:
            return f"invalid request line {lines[0][:64]!r}"
        fields = parse_fields(lines[1:], MAX_HEADERS).fields
    except LocalProtocolError as exc:
        return str(exc)
    return (match["method"], match["target"], match["version"], fields)


def _reference_response(raw: bytes) -> tuple | str:
    """What the line-by-line grammar makes of a status line and headers."""
    try:
        lines = split_head(raw.decode("latin-1"))
        match = STATUS_LINE.fullmatch(lines[0])
        if match is None:
            return f"invalid status line {lines[0][:64]!r}"
        status, reason = int(match["status"]), match["reason"] or ""
        check_status_line(status, reason)
        fields = parse_fields(lines[1:], MAX_HEADERS).fields
    except LocalProtocolError as exc:
        return str(exc)
    return (status, reason, match["version"], fields)


def _first_head(conn: Connection, raw: bytes) -> tuple | str:
    """What the fast path made of *raw*'s head: its four parts, or the error text."""
    conn.receive_data(raw)
    try:
        head = conn.next_event().head
    except RemoteProtocolError as exc:
        return str(exc)
    if isinstance(head, RequestHead):
        return (head.method, head.target, head.version, head.headers.fields)
    return (head.status, head.reason, head.version, head.headers.fields)


@pytest.mark.parametrize("raw", UNCHANGED_REQUESTS)
def test_request_heads_parse_as_the_line_grammar_says(raw: bytes) -> None:
    assert _first_head(Connection(SERVER, max_headers=MAX_HEADERS), raw) == _reference_request(raw)


@pytest.mark.parametrize("raw", UNCHANGED_RESPONSES)
def test_response_heads_parse_as_the_line_grammar_says(raw: bytes) -> None:
    conn = Connection(CLIENT, max_headers=MAX_HEADERS)
    conn.send(Request(RequestHead("GET", "/", headers=Headers([("Host", "a")]))))
    conn.send(EndOfMessage())
    assert _first_head(conn, raw) == _reference_response(raw)


def _reference_check(fields: list) -> str:
    """The per-field loop the all-at-once check stands in for."""
    try:
        for name, value in fields:
            if not _TOKEN_RE.fullmatch(name):
                return f"invalid header name {name!r}"
            if not _VALUE_RE.fullmatch(value):
                return f"invalid value for header {name!r}"
    except (TypeError, ValueError) as exc:
        return type(exc).__name__
    return "ok"


@pytest.mark.parametrize(
    "fields",
    [
        [],
        [("Host", "a"), ("X-A", "")],
        [("X", "caf\xe9\t\x85\xa0 \xff")],
        [("X", "\u0100")],
        [("a: b", "c")],
        [("", "c")],
        [("X", "a\r\nY: b")],
        [("X", "a\x00b")],
        [("X\x00", "b")],
        [("a", "b"), ("c", "d", "e")],
        [("a", "b", "c")],
        [("a\x00b",)],
        ["ab"],
        [("X", 5)],
        [(5, "x")],
    ],
)
def test_field_checks_agree_with_the_per_field_loop(fields: list) -> None:
    try:
        check_fields(Headers(list(fields)))
    except LocalProtocolError as exc:
        got = str(exc)
    except (TypeError, ValueError) as exc:
        got = type(exc).__name__
    else:
        got = "ok"
    assert got == _reference_check(fields)


def test_states_are_named_constants_kept_by_copies() -> None:
    conn = Connection(SERVER)
    assert repr(conn.states) == "{CLIENT: IDLE, SERVER: IDLE}"
    assert copy.deepcopy(conn.states) == {CLIENT: IDLE, SERVER: IDLE}
    assert pickle.loads(pickle.dumps(SEND_BODY)) is SEND_BODY


def test_data_outside_a_body_is_still_refused() -> None:
    conn = Connection(SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.next_event()
    conn.next_event()
    conn.send(Response(ResponseHead(200, "OK", headers=Headers([("Content-Length", "2")]))))
    assert conn.send(Data(b"ok")) == b"ok"
    conn.send(EndOfMessage())
    assert conn.states == {CLIENT: DONE, SERVER: DONE}
    with pytest.raises(LocalProtocolError, match="can't handle Data when SERVER is DONE"):
        conn.send(Data(b"x"))


def test_inline_moves_are_the_tables_moves() -> None:
    """Connection moves a kept-alive exchange by hand; these are the moves the tables give for it."""
    table = EVENT_TRIGGERED_TRANSITIONS
    assert table[CLIENT][IDLE][Request] is SEND_BODY
    assert table[SERVER][SEND_RESPONSE][Response] is SEND_BODY
    assert table[CLIENT][SEND_BODY][EndOfMessage] is DONE
    assert table[SERVER][SEND_BODY][EndOfMessage] is DONE
    machine = ConnectionState()
    machine.process_event(CLIENT, Request)
    assert machine.states == {CLIENT: SEND_BODY, SERVER: SEND_RESPONSE}
    machine.process_event(CLIENT, EndOfMessage)
    machine.process_event(SERVER, Response)
    machine.process_event(SERVER, EndOfMessage)
    machine.start_next_cycle()
    assert machine.states == {CLIENT: IDLE, SERVER: IDLE}


def test_an_answer_after_a_cycle_forgets_the_last_request() -> None:
    """A 408 sent before the next request: not framed for the last request's HEAD or HTTP/1.0."""
    conn = Connection(SERVER)
    conn.receive_data(b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    conn.next_event()
    conn.next_event()
    conn.send(Response(ResponseHead(200, "OK", headers=Headers([("Content-Length", "5")]))))
    conn.send(EndOfMessage())
    conn.start_next_cycle()
    out = conn.send(Response(ResponseHead(408, "Request Timeout", headers=Headers([("Content-Length", "2")]))))
    assert out == b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 2\r\n\r\n"
    assert conn.send(Data(b"ok")) == b"ok"


def test_shared_empty_trailers_cannot_be_changed() -> None:
    conn = Connection(SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.next_event()
    end = conn.next_event()
    assert end == EndOfMessage() and not end.trailers.fields
    with pytest.raises(AttributeError):
        end.trailers.add("X", "y")


def test_header_lookups_that_miss_and_hit() -> None:
    headers = Headers([("Host", "a"), ("X-A", "1"), ("x-a", "2")])
    assert headers.get_all("x-b") == [] and not headers.contains("X-B") and headers.remove("x-b") == 0
    assert headers.get_all("X-A") == ["1", "2"] and headers.contains("HOST")
    assert headers.remove("X-a") == 2 and headers.fields == [("Host", "a")]


def test_next_cycle_only_after_a_complete_kept_alive_exchange() -> None:
    conn = Connection(SERVER)
    assert not conn.next_cycle()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.0\r\n\r\n")
    conn.next_event()
    conn.next_event()
    assert not conn.next_cycle()
    conn.send(Response(ResponseHead(200, "OK", headers=Headers([("Content-Length", "0")]))))
    conn.send(EndOfMessage())
    assert conn.next_cycle() and conn.states == {CLIENT: IDLE, SERVER: IDLE}
    assert conn.next_event().head.version == "HTTP/1.0"
    conn.next_event()
    conn.send(Response(ResponseHead(200, "OK", headers=Headers([("Content-Length", "0")]))))
    conn.send(EndOfMessage())
    assert not conn.next_cycle()


def test_a_connection_is_freed_without_the_garbage_collector() -> None:
    gc.disable()
    try:
        conn = Connection(SERVER)
        gone = weakref.ref(conn)
        del conn
        assert gone() is None
    finally:
        gc.enable()


def _exchange_by_events(raw: bytes, head: ResponseHead, body: bytes) -> tuple[bytes, dict, bool]:
    """What the event-by-event path writes for *head* and *body* after reading *raw*, its states after."""
    conn = Connection(SERVER)
    conn.receive_data(raw)
    conn.next_event()
    while not isinstance(conn.next_event(), EndOfMessage):
        pass
    out = conn.send(Response(copy.deepcopy(head)))
    if body:
        out += conn.send(Data(body))
    out += conn.send(EndOfMessage())
    return out, conn.states, conn.next_cycle()


WHOLE_CASES = [
    (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", [("Content-Length", "2")], b"ok"),
    (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", [], b"chunks"),
    (b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", [("Content-Length", "2")], b""),
    (b"GET / HTTP/1.0\r\n\r\n", [("Content-Length", "2")], b"ok"),
    (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", [("Content-Length", "2")], b"ok"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", [("Content-Length", "0")], b""),
]


@pytest.mark.parametrize(("raw", "fields", "body"), WHOLE_CASES)
def test_a_whole_message_is_what_its_events_give(raw: bytes, fields: list, body: bytes) -> None:
    """send_message and take_body: the bytes, states and next cycle of the event-by-event path."""
    if not any(name == "Content-Length" for name, _ in fields) and body:
        fields = [("Transfer-Encoding", "chunked")]
    head = ResponseHead(200, "OK", headers=Headers(list(fields)))
    expected = _exchange_by_events(raw, head, body)
    conn = Connection(SERVER)
    conn.receive_data(raw)
    conn.next_event()
    request_body = conn.take_body()
    assert request_body == raw.partition(b"\r\n\r\n")[2]
    out = conn.send_message(copy.deepcopy(head), body)
    assert (out, conn.states, conn.next_cycle()) == expected


def test_take_body_leaves_what_it_cannot_take_whole() -> None:
    conn = Connection(SERVER)
    conn.receive_data(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")
    conn.next_event()
    assert conn.take_body() is None  # not all here
    conn.receive_data(b"cde")
    assert conn.take_body(below=5) is None  # not shorter than asked
    assert conn.take_body(below=6) == b"abcde" and conn.states[CLIENT] is DONE
    chunked = Connection(SERVER)
    chunked.receive_data(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    chunked.next_event()
    assert chunked.take_body() is None  # only a known length is taken whole
    assert isinstance(chunked.next_event(), EndOfMessage)
    bodiless = Connection(SERVER)
    bodiless.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    bodiless.next_event()
    assert bodiless.take_body(below=0) is None  # an empty body is not shorter than nothing
    assert bodiless.take_body(below=1) == b"" and bodiless.states[CLIENT] is DONE
    assert bodiless.take_body() is None  # taken already


def test_a_whole_message_refuses_what_its_events_refuse() -> None:
    conn = Connection(SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.next_event()
    conn.take_body()
    with pytest.raises(LocalProtocolError, match="longer than its Content-Length"):
        conn.send_message(ResponseHead(200, "OK", headers=Headers([("Content-Length", "1")])), b"ok")
    with pytest.raises(LocalProtocolError, match="can't send after an error"):
        conn.send_message(ResponseHead(200, "OK", headers=Headers([("Content-Length", "0")])))
    short = Connection(SERVER)
    short.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    short.next_event()
    with pytest.raises(LocalProtocolError, match="2 bytes short"):
        short.send_message(ResponseHead(200, "OK", headers=Headers([("Content-Length", "3")])), b"o")
    with pytest.raises(LocalProtocolError, match="final response with status 101"):
        Connection(SERVER).send_message(ResponseHead(101, "Switching Protocols"))


def test_a_read_head_is_checked_again_once_changed() -> None:
    """The sending side trusts the reader's checks only while the fields are exactly as it read them."""
    server = Connection(SERVER)
    server.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
    head = server.next_event().head  # type: ignore[union-attr]
    client = Connection(CLIENT)
    assert client.send(Request(head)).endswith(b"Content-Length: 3\r\n\r\n")
    head.headers.fields[0] = ("Host", "a\r\nX-Injected: 1")
    with pytest.raises(LocalProtocolError):
        Connection(CLIENT).send(Request(head))
    head.headers.fields[0] = ("Host", "a")
    head.headers.set("Content-Length", "5")
    other = Connection(CLIENT)
    other.send(Request(head))
    other.send(Data(b"abc"))
    with pytest.raises(LocalProtocolError):  # framed by the new length, not the one read
        other.send(EndOfMessage())


REPLIES = [
    Reply(200, [("content-type", "text/plain")], b"hello world"),
    Reply(403, [], b""),
    Reply(302, [("location", "/x"), ("cache-control", "no-cache")]),
    Reply(200, [("x-caf\xe9", "v")], b"bad name"),
    Reply(200, [("content-length", "2")], b"ok"),
    Reply(204, [("x", "y")]),
    Reply(200, [("x", "a\r\nb")], b"injected"),
    Reply(299, [], b"z", reason="Fine"),
]


@pytest.mark.parametrize("raw", [case[0] for case in WHOLE_CASES])
@pytest.mark.parametrize("reply", REPLIES)
def test_a_plain_answer_is_what_send_message_gives(raw: bytes, reply: Reply) -> None:
    """Where the connection allows bytes made whole (plain_answer) and a reply makes them (Reply.whole),
    they and the moves of answered() are send_message's; elsewhere the reply says it cannot (b"")."""
    general = Connection(SERVER)
    general.receive_data(raw)
    general.next_event()
    general.take_body()
    try:
        expected: tuple | None = (general.send_message(reply.head(), reply.body), general.states)
    except LocalProtocolError:
        expected = None
    plain = Connection(SERVER)
    plain.receive_data(raw)
    plain.next_event()
    plain.take_body()
    if not plain.plain_answer() or not reply.whole():
        return
    plain.answered()
    assert (reply.whole(), plain.states) == expected
    assert plain.next_cycle() == general.next_cycle()


def test_plain_answers_need_a_kept_alive_http11_exchange() -> None:
    allowed = []
    for raw, _, _ in WHOLE_CASES:
        conn = Connection(SERVER)
        conn.receive_data(raw)
        conn.next_event()
        allowed.append(conn.plain_answer())
    assert allowed == [True, True, False, False, False, True]


def test_whole_response_refuses_what_the_writer_refuses() -> None:
    assert whole_response(200, "OK", [], b"") == b"HTTP/1.1 200 OK\r\n\r\n"
    assert whole_response(200, "O\r\nK", [], b"") is None
    assert whole_response(600, "OK", [], b"") is None
    assert whole_response(200, "OK", [("a b", "c")], b"") is None
    assert whole_response(200, "OK", [("a", "\u20ac")], b"") is None
    assert chunked_whole(b"") == b"0\r\n\r\n" and chunked_whole(b"ab") == b"2\r\nab\r\n0\r\n\r\n"


def test_names_remembered_are_bounded_and_answered_as_checked() -> None:
    """names_valid answers a set of names seen before from memory, and remembers at most _KEPT_NAMES sets."""
    for i in range(grammar._KEPT_NAMES + 50):
        assert grammar.names_valid((f"x-{i}", "content-length"))
        assert not grammar.names_valid((f"x {i}",))
    assert len(grammar._VALID_NAMES) <= grammar._KEPT_NAMES
    assert grammar.names_valid(("x-0", "content-length")) and not grammar.names_valid(("x 0",))
    assert not grammar.names_valid(("", "a")) and not grammar.values_valid(("a\r\nb",))


def _kept_as_read(head: RequestHead | ResponseHead) -> bool:
    """The reader kept the head's own text to write (it is written as the writer writes)."""
    return head.headers.read_as is not None and head.headers.read_as[2] is not None


@pytest.mark.parametrize("raw", UNCHANGED_REQUESTS)
def test_an_unchanged_request_head_is_written_as_its_fields_say(raw: bytes) -> None:
    """A head sent as the text it came as gives the writer's own bytes; one that is not written so is
    rewritten, and one changed since it was read too."""
    if isinstance(_reference_request(raw), str):
        return
    server = Connection(SERVER, max_headers=MAX_HEADERS)
    server.receive_data(raw)
    head = server.next_event().head  # type: ignore[union-attr]
    written = Connection(CLIENT).send(Request(head))
    assert (written == raw) is _kept_as_read(head)
    head.headers.read_as = None
    assert written == Connection(CLIENT).send(Request(head))


@pytest.mark.parametrize("raw", UNCHANGED_RESPONSES)
def test_an_unchanged_response_head_is_written_as_its_fields_say(raw: bytes) -> None:
    if isinstance(_reference_response(raw), str):
        return
    conn = Connection(CLIENT, max_headers=MAX_HEADERS)
    conn.send(Request(RequestHead("GET", "/", headers=Headers([("Host", "a")]))))
    conn.send(EndOfMessage())
    conn.receive_data(raw)
    head = conn.next_event().head  # type: ignore[union-attr]
    written = write_response(head)
    assert (written == raw) is _kept_as_read(head)
    assert written == write_response(ResponseHead(head.status, head.reason, head.version, head.headers.copy()))
    head.reason = "Changed"
    assert b"Changed" in write_response(head)


def test_a_relayed_response_is_framed_again_only_once_changed() -> None:
    """The sending side reuses the reader's framing while fields, status and request method are the same."""
    conn = Connection(CLIENT)
    conn.send(Request(RequestHead("GET", "/", headers=Headers([("Host", "a")]))))
    conn.send(EndOfMessage())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
    head = conn.next_event().head  # type: ignore[union-attr]
    framed = head.headers.framed
    assert framed is not None and framed[2][0].length == 3
    assert response_framing(head, "GET") is framed[2]
    assert response_framing(head, "HEAD")[0].kind != framed[2][0].kind
    head.status = 204
    assert response_framing(head, "GET")[0].kind != framed[2][0].kind
    head.status = 200
    head.headers.set("Content-Length", "5")
    assert response_framing(head, "GET")[0].length == 5


HEADER_EDITS = [
    [("set", "X-Tag", "1.2.3.4")],
    [("set", "x-tag", "a"), ("set", "X-TAG", "b")],  # the second replaces the first, whatever the case
    [("add", "X-A", "1"), ("add", "x-a", "2"), ("set", "X-B", "c d")],
    [("set", "Accept", "text/html")],  # the head has it: replaced, moved last
    [("set", "accept", "x"), ("add", "Accept", "y")],
    [("set", "Host", "b")],  # framing reads it: the general path
    [("add", "Content-Length", "0")],
    [("set", "X-Sp", "trailing ")],  # no plain line: the general path
    [("set", "X-L", "caf\xe9")],
    [("set", "X-E", "")],
    [("add", "Bad Name", "v")],
]


def _written(head: RequestHead) -> bytes | str:
    try:
        return Connection(CLIENT).send(Request(head))
    except LocalProtocolError:
        return "refused"


def _read_request(raw: bytes) -> RequestHead:
    server = Connection(SERVER)
    server.receive_data(raw)
    return server.next_event().head  # type: ignore[union-attr]


@pytest.mark.parametrize("edits", HEADER_EDITS)
def test_a_field_appended_to_a_read_head_is_what_the_general_path_gives(edits: list) -> None:
    """set/add on a head still in its text (readers.HeadFields) give the fields and bytes Headers gives."""
    raw = b"GET /p HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Tag: old\r\n\r\n"
    head, reference = _read_request(raw), _read_request(raw)
    assert head.headers.read_as[0] is None  # in its text, not split
    list(reference.headers)  # split: the general path
    for operation, name, value in edits:
        getattr(head.headers, operation)(name, value)
        getattr(reference.headers, operation)(name, value)
    assert _written(head) == _written(reference)  # a bad name is refused by both
    assert list(head.headers) == list(reference.headers)


def test_the_same_field_appended_to_the_same_head_again_gives_the_same_bytes() -> None:
    """readers.appended_text keeps the texts it made: each read of the same head is the head as sent, and each edit
    of it writes the bytes the first did; the same field set on a head that has it still replaces it."""
    raw = b"GET /p HTTP/1.1\r\nHost: a\r\n\r\n"
    for _ in range(3):
        head = _read_request(raw)
        assert head.headers.text == raw.decode()
        head.headers.set("X-Tag", "1.2.3.4")
        assert _written(head) == b"GET /p HTTP/1.1\r\nHost: a\r\nX-Tag: 1.2.3.4\r\n\r\n"
    head = _read_request(b"GET /p HTTP/1.1\r\nHost: a\r\nX-Tag: old\r\n\r\n")
    head.headers.set("X-Tag", "1.2.3.4")
    assert list(head.headers) == [("Host", "a"), ("X-Tag", "1.2.3.4")]


SENT_AGAIN = [  # an edit of the second request read, each after the same head was sent once
    ("nothing", lambda head: None),
    ("a field appended", lambda head: head.headers.set("X-Tag", "1.2.3.4")),
    ("the path", lambda head: setattr(head, "target", "/q")),
    ("the method", lambda head: setattr(head, "method", "POST")),
    ("the version", lambda head: setattr(head, "version", "HTTP/1.0")),
    ("a field removed", lambda head: head.headers.remove("accept")),
    ("Connection: close", lambda head: head.headers.set("Connection", "close")),
    ("Content-Length", lambda head: head.headers.set("Content-Length", "3")),
]


@pytest.mark.parametrize(("edit", "change"), SENT_AGAIN, ids=[edit for edit, _ in SENT_AGAIN])
def test_a_plain_request_sent_again_is_what_a_fresh_connection_sends(edit: str, change: Any) -> None:
    """Connection._plain_sent: the same plain head text sent again goes out as the bytes it made, only while
    its fields are unsplit and its first line is as read; every edit gives the bytes and states a connection
    that never sent it gives."""
    raw = b"GET /p HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"
    back = Connection(CLIENT)
    back.send_message(_read_request(raw))
    back.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(back.next_event(), Response) and isinstance(back.next_event(), EndOfMessage)
    assert back.next_cycle()
    head, reference = _read_request(raw), _read_request(raw)
    change(head)
    change(reference)
    fresh = Connection(CLIENT)
    body = b"abc" if edit == "Content-Length" else b""
    assert back.send_message(head, body) == fresh.send_message(reference, body)
    assert back.states == fresh.states


GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
PLAIN_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
RELAY_CASES = [  # (request, response, whether the second exchange is relayed whole)
    (GET, PLAIN_RESPONSE, True),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", PLAIN_RESPONSE, True),
    (b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", PLAIN_RESPONSE.removesuffix(b"hello"), False),
    (b"GET / HTTP/1.0\r\nHost: a\r\n\r\n", PLAIN_RESPONSE, False),  # the client is told keep-alive
    (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", PLAIN_RESPONSE, False),
    (GET, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     False),
    (GET, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
     False),
    (GET, b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", False),
    (GET, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
    (GET, b"HTTP/1.1 204 No Content\r\n\r\n", True),
    (GET, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", True),
    (GET, b"HTTP/1.1 200 OK\r\nContent-Length:  5\r\n\r\nhello", False),
]


def _relay(request: bytes, response: bytes, whole: bool) -> list[tuple[bytes, bool, Any]]:
    """Two exchanges through a front (client side) and a back (server side) Connection, each response relayed
    whole when *whole* and the cores allow it, else event by event: the bytes the client got, whether it went
    whole, and the states after."""
    front, back = Connection(SERVER), Connection(CLIENT)
    results = []
    for _ in range(2):
        front.receive_data(request)
        head = front.next_event().head  # type: ignore[union-attr]
        back.send(Request(head))
        back.send(EndOfMessage())
        while not isinstance(front.next_event(), EndOfMessage):
            pass
        taken = back.receive_whole(response) if whole and front.plain_answer() else None
        if not (whole and front.plain_answer()):
            back.receive_data(response)
        if taken is not None:
            front.answered()
            sent = taken[1]
        else:
            sent = b""
            while True:
                event = back.next_event()
                if event is NEED_DATA or event is PAUSED:
                    break
                sent += front.send(event)
                if isinstance(event, EndOfMessage):
                    break
        results.append((sent, taken is not None, (front.states, back.states, bytes(back.buffer))))
        if not (front.next_cycle() and back.next_cycle()):
            break
    return results


@pytest.mark.parametrize(("request_raw", "response", "relayed_whole"), RELAY_CASES)
def test_a_response_relayed_whole_is_what_the_general_path_sends(request_raw: bytes, response: bytes,
                                                                 relayed_whole: bool) -> None:
    """Connection.receive_whole: the same bytes and states as the events, taken only for the last plain head
    again with exactly its body, to a kept-alive HTTP/1.1 request that lets the body be."""
    general, fast = _relay(request_raw, response, False), _relay(request_raw, response, True)
    assert [(sent, states) for sent, _, states in fast] == [(sent, states) for sent, _, states in general]
    assert [went for _, went, _ in fast] == [False, relayed_whole][:len(fast)]


def test_a_response_taken_whole_has_the_head_the_events_give_whatever_their_readers_did_to_theirs() -> None:
    """receive_whole gives the connection's own head for the plain response (the same object each time): the
    head the events gave for it, which a stream's rules may edit, is another, so an edit there never shows in it."""
    back = Connection(CLIENT)
    taken = []
    for _ in range(3):
        back.send(Request(RequestHead("GET", "/", "HTTP/1.1", Headers([("Host", "a")]))))
        back.send(EndOfMessage())
        whole = back.receive_whole(PLAIN_RESPONSE)
        if whole is None:
            read = back.next_event()
            assert isinstance(read, Response)
            assert back.take_body() == b"hello"
            read.head.headers.set("X-Edited", "1")  # as an http-response rule does
            read.head.status = 299
        else:
            head, data = whole
            assert data == PLAIN_RESPONSE
            taken.append(head)
        assert back.next_cycle()
    assert len(taken) == 2 and taken[0] is taken[1]
    head = taken[0]
    assert (head.status, head.reason, head.version) == (200, "OK", "HTTP/1.1")
    assert head.headers.fields == [("Content-Length", "5"), ("Content-Type", "text/plain")]
    assert write_response(head) == PLAIN_RESPONSE.removesuffix(b"hello")


def test_a_head_answered_to_head_is_never_taken_as_a_whole_response_later() -> None:
    """A HEAD's response head has no body whatever its Content-Length says: the same head to a later GET frames
    a body that may still be on its way, so receive_whole does not take that head alone as the GET's response."""
    head_only = PLAIN_RESPONSE.removesuffix(b"hello")
    back = Connection(CLIENT)
    for method in ("HEAD", "GET"):
        back.send(Request(RequestHead(method, "/", "HTTP/1.1", Headers([("Host", "a")]))))
        back.send(EndOfMessage())
        assert back.receive_whole(head_only) is None  # buffered, as receive_data does
        assert isinstance(back.next_event(), Response)
        if method == "HEAD":
            assert isinstance(back.next_event(), EndOfMessage)
            assert back.next_cycle()
    assert back.next_event() is NEED_DATA  # the GET's body is still to come


RECEIVED_CASES = [
    (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", True),
    (b"GET /x HTTP/1.1\r\n\r\n", True),
    (b"GET / HTTP/1.0\r\nHost: a\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", False),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", False),
    (b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", False),
    (b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nHost:a\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", False),
]


def _serve_twice(raw: bytes, received: bool) -> list[tuple[Any, ...]]:
    """Two exchanges of *raw* on a server Connection, read by receive_request when *received* (else by
    receive_data and next_request): each head's parts, framing fields and body, the states, and whether
    receive_request took it."""
    front = Connection(SERVER)
    results = []
    for _ in range(2):
        head = front.receive_request(raw) if received else None
        taken = head is not None
        if not received:
            front.receive_data(raw)
        if head is None:
            head = front.next_request()
        body = front.take_body()
        results.append(((head.method, head.target, head.version, list(head.headers)),  # type: ignore[union-attr]
                        dict(front.head_fields), body, front.states, front.they_are_waiting_for_100_continue,
                        taken))
        front.send_message(ResponseHead(200, "OK", "HTTP/1.1", Headers([("Content-Length", "0")])))
        if not front.next_cycle():
            break
        front.buffer.clear()
    return results


@pytest.mark.parametrize(("raw", "taken"), RECEIVED_CASES)
def test_a_request_received_whole_is_what_next_request_reads(raw: bytes, taken: bool) -> None:
    """Connection.receive_request: the same head, fields, body and states as the general read, taken only for
    the last plain request head again (bodiless HTTP/1.1, nothing to check), exactly and alone."""
    general, fast = _serve_twice(raw, False), _serve_twice(raw, True)
    assert [result[:-1] for result in fast] == [result[:-1] for result in general]
    assert [result[-1] for result in fast] == [False, taken][:len(fast)]


def test_a_request_received_after_another_head_is_read_in_full() -> None:
    """The head reader's last plain head is the one receive_request compares with: another head between two
    identical ones is read, and the next plain one again is taken."""
    front = Connection(SERVER)
    plain, other = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"GET /other HTTP/1.1\r\nHost: a\r\n\r\n"
    taken = []
    for raw in (plain, plain, other, plain, plain):
        head = front.receive_request(raw)
        taken.append(head is not None)
        if head is None:
            head = front.next_request()
        assert isinstance(head, RequestHead) and front.take_body() == b""
        front.send_message(ResponseHead(204, "No Content", "HTTP/1.1", Headers()))
        assert front.next_cycle()
    assert taken == [False, True, False, False, True]
