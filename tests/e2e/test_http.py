"""HTTP mode end to end: forwarding, keep-alive, bodies, rules, errors, raw bytes on the wire."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.helpers import HttpBackend, free_port, http_exchange, parse_responses, read_all


@pytest.fixture
def backend():
    server = HttpBackend()
    yield server
    server.close()


def start(write, luaproxy, port, body: str, lua: str = "", extra_global: str = "") -> None:
    if lua:
        write("h.lua", lua)
    write("h.cfg", f"""
        global
           {"lua-load h.lua" if lua else ""}
           {extra_global}
        defaults
           mode http
           timeout connect 2s
           timeout client 5s
           timeout server 5s
        """ + body.replace("{port}", str(port)))
    luaproxy("-f", "h.cfg", wait_port=port)


def get(port: int, path: str = "/", headers: str = "", method: str = "GET", body: bytes = b"") -> tuple:
    request = f"{method} {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n"
    if body:
        request += f"Content-Length: {len(body)}\r\n"
    (response,) = parse_responses(http_exchange(port, request.encode() + b"\r\n" + body))
    return response


def echoed(response: tuple) -> dict:
    return json.loads(response[2])


def test_forward_keep_alive_and_pipelining(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           default_backend be
        backend be
           server s1 127.0.0.1:{backend.port}
        """)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\nGET /two HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        s.sendall(b"POST /three HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        time.sleep(0.3)
        s.sendall(b"GET /four HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        responses = parse_responses(read_all(s, 5))
    assert [r[0] for r in responses] == [200, 200, 200, 200]
    bodies = [json.loads(r[2]) for r in responses]
    assert [b["path"] for b in bodies] == ["/one", "/two", "/three", "/four"]
    assert bodies[2]["body"] == "hello"
    assert responses[3][1].get("connection") == "close"


def test_chunked_request_and_response_bodies(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        listen p
           bind 127.0.0.1:{{port}}
           server s1 127.0.0.1:{backend.port}
        """)
    raw = (b"POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    (status, headers, body) = parse_responses(http_exchange(port, raw))[0]
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    assert json.loads(body)["body"] == "hello world"


def test_large_body_streams_through(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        listen p
           bind 127.0.0.1:{{port}}
           server s1 127.0.0.1:{backend.port}
        """)
    payload = b"z" * 3_000_000
    response = get(port, "/upload", method="POST", body=payload)
    assert response[0] == 200 and len(echoed(response)["body"]) == len(payload)


def test_head_204_304_and_http10(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        listen p
           bind 127.0.0.1:{{port}}
           server s1 127.0.0.1:{backend.port}
        """)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET /status/204 HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"GET /status/304 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = read_all(s, 5)
    assert data.count(b"HTTP/1.1 ") == 3
    assert b"HTTP/1.1 204" in data and b"HTTP/1.1 304" in data
    assert not data.rstrip().endswith(b"}")
    out = http_exchange(port, b"GET / HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.") and b'"path": "/"' in out


def test_expect_100_continue(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        listen p
           bind 127.0.0.1:{{port}}
           server s1 127.0.0.1:{backend.port}
        """)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"PUT /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n"
                  b"Connection: close\r\n\r\n")
        interim = s.recv(100)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
        s.sendall(b"data")
        final = read_all(s, 5)
    assert b"200 OK" in final and b'"body": "data"' in final


def test_forwardfor_and_header_rules(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           option forwardfor
           http-request set-header X-Set "%[src]"
           http-request add-header X-Add one
           http-request add-header X-Add two
           http-request del-header X-Drop
           http-request replace-header X-Rep (.*)-(.*) \\2-\\1
           http-request replace-value X-Val ^a(.*) A\\1
           http-request set-path /rewritten%[path]
           http-request set-query q=%[query]
           http-request set-method PUT
           http-response set-header X-Resp yes
           http-response set-status 201 reason Made
           default_backend be
        backend be
           server s1 127.0.0.1:{backend.port}
        """)
    status, headers, body = get(port, "/p?x=1", "X-Drop: gone\r\nX-Rep: left-right\r\nX-Val: ab, ac, b\r\n")
    seen = dict(json.loads(body)["headers"])
    assert status == 201 and headers["x-resp"] == "yes"
    assert seen["X-Forwarded-For"] == "127.0.0.1" and seen["X-Set"] == "127.0.0.1"
    assert [v for k, v in json.loads(body)["headers"] if k == "X-Add"] == ["one", "two"]
    assert "X-Drop" not in seen
    assert seen["X-Rep"] == "right-left" and seen["X-Val"] == "Ab, Ac, b"
    assert json.loads(body)["path"] == "/rewritten/p?q=x=1"
    assert json.loads(body)["method"] == "PUT"


def test_deny_return_redirect_and_switching(write, luaproxy, port, backend):
    other = HttpBackend("other")
    try:
        start(write, luaproxy, port, f"""
            frontend fe
               bind 127.0.0.1:{{port}}
               acl is_admin path_beg /admin
               http-request deny if is_admin
               http-request deny deny_status 429 if {{ path /slow-down }}
               http-request return status 200 content-type text/plain string "plain answer" if {{ path /ret }}
               http-request return status 404 content-type text/plain lf-string "no %[path]" if {{ path /lf }}
               http-request redirect location /new code 301 if {{ path /old }}
               http-request redirect prefix /v2 if {{ path_beg /api }}
               http-request set-var(txn.who) req.hdr(x-user)
               use_backend other if {{ var(txn.who) -m str bob }}
               default_backend be
            backend be
               server s1 127.0.0.1:{backend.port}
            backend other
               server s1 127.0.0.1:{other.port}
            """)
        assert get(port, "/admin/x")[0] == 403
        assert get(port, "/slow-down")[0] == 429
        assert get(port, "/ret")[2] == b"plain answer"
        assert get(port, "/lf")[:1] == (404,) and get(port, "/lf")[2] == b"no /lf"
        status, headers, _ = get(port, "/old")
        assert (status, headers["location"]) == (301, "/new")
        assert get(port, "/api/users?x=1")[1]["location"] == "/v2/api/users?x=1"
        assert echoed(get(port, "/", "X-User: bob\r\n"))["server"] == "other"
        assert echoed(get(port, "/", "X-User: eve\r\n"))["server"] == "backend"
    finally:
        other.close()


def test_error_statuses(write, luaproxy, port, backend):
    dead_port = free_port()  # reserved for this test: nobody listens there
    garbage = socket.socket()
    garbage.bind(("127.0.0.1", 0))
    garbage.listen(8)
    import threading

    def serve_garbage():
        while True:
            try:
                conn, _ = garbage.accept()
            except OSError:
                return
            conn.recv(1000)
            conn.sendall(b"garbage garbage\r\n\r\n")
            conn.close()

    threading.Thread(target=serve_garbage, daemon=True).start()
    try:
        start(write, luaproxy, port, f"""
            frontend fe
               bind 127.0.0.1:{{port}}
               timeout http-request 300ms
               use_backend dead if {{ path /dead }}
               use_backend garbage if {{ path /garbage }}
               use_backend slow if {{ path_beg /slow }}
               default_backend be
            backend be
               server s1 127.0.0.1:{backend.port}
            backend dead
               retries 0
               server s1 127.0.0.1:{dead_port}
            backend garbage
               server s1 127.0.0.1:{garbage.getsockname()[1]}
            backend slow
               timeout server 200ms
               server s1 127.0.0.1:{backend.port}
            """)
        assert get(port, "/dead")[0] == 503
        assert get(port, "/garbage")[0] == 502
        assert get(port, "/slow/1")[0] == 504
        bad = http_exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n")
        assert bad.startswith(b"HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\n"
                              b"Connection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>400 Bad request")
        slow = http_exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\n")
        assert slow.startswith(b"HTTP/1.1 408 Request Time-out\r\n")
        smuggle = http_exchange(port, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4, 5\r\n"
                                      b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert smuggle.startswith(b"HTTP/1.1 400")
    finally:
        garbage.close()


def test_errorfile_replaces_a_page(write, luaproxy, port, tmp_path):
    (tmp_path / "503.http").write_bytes(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                                        b"Content-Length: 5\r\nConnection: close\r\n\r\nsorry")
    start(write, luaproxy, port, """
        frontend fe
           bind 127.0.0.1:{port}
           errorfile 503 503.http
        """)
    assert get(port, "/")[2] == b"sorry"


def keep_alive_exchange(port: int, count: int) -> tuple[list[tuple], bool]:
    """*count* requests on one connection; the responses and whether the server closed after them."""
    responses = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for _ in range(count):
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            data = b""
            while b"}" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    return responses + parse_responses(data) if data else responses, True
                data += chunk
            responses += parse_responses(data)
        s.settimeout(0.3)
        try:
            closed = s.recv(1) == b""
        except TimeoutError:
            closed = False
    return responses, closed


@pytest.mark.parametrize(("option", "server_connections", "client_closed"), [
    ("http-keep-alive", 1, False), ("http-server-close", 3, False), ("httpclose", 1, True)])
def test_connection_options(write, luaproxy, port, backend, option, server_connections, client_closed):
    start(write, luaproxy, port, f"""
        listen p
           bind 127.0.0.1:{{port}}
           option {option}
           server s1 127.0.0.1:{backend.port}
        """)
    responses, closed = keep_alive_exchange(port, 1 if client_closed else 3)
    assert all(r[0] == 200 for r in responses) and closed == client_closed
    if client_closed:
        assert responses[0][1]["connection"] == "close"
    assert backend.connections == server_connections


def test_keep_alive_timeout_closes_idle_clients(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        listen p
           bind 127.0.0.1:{{port}}
           timeout http-keep-alive 200ms
           timeout http-request 5s
           server s1 127.0.0.1:{backend.port}
        """)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        first = b""
        while not first.endswith(b"}"):
            first += s.recv(65536)
        started = time.monotonic()
        rest = read_all(s, 4)
    assert first.startswith(b"HTTP/1.1 200") and rest == b""
    assert 0.1 < time.monotonic() - started < 2


def test_chunks_win_over_a_content_length_and_the_connection_closes(write, luaproxy, port, backend):
    """As haproxy 2.6: the Content-Length is dropped, the chunked body forwarded, the client's connection closed
    after the response, so the bytes the Content-Length would have framed as a request are never read."""
    start(write, luaproxy, port, f"""
        listen p
           bind 127.0.0.1:{{port}}
           server s1 127.0.0.1:{backend.port}
        """)
    raw = (b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 31\r\nTransfer-Encoding: chunked\r\n"
           b"X-Folded: a\r\n b\r\nTE: trailers, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        reply = read_all(s, 4)
    [(status, headers, body)] = parse_responses(reply)
    assert status == 200 and headers["connection"] == "close"
    seen = json.loads(body)
    names = {name.lower(): value for name, value in seen["headers"]}
    assert seen["path"] == "/up" and seen["body"] == "abc" and "content-length" not in names
    assert names["transfer-encoding"] == "chunked" and names["x-folded"] == "a   b" and names["te"] == "trailers"
    assert backend.requests == 1


@pytest.mark.parametrize("raw", [
    b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: x\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\n X-Folded-First: a\r\nHost: t\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nBad\x00Name: x\r\n\r\n",
])
def test_smuggling_attempts_never_reach_the_server(write, luaproxy, port, backend, raw):
    start(write, luaproxy, port, f"""
        listen p
           bind 127.0.0.1:{{port}}
           server s1 127.0.0.1:{backend.port}
        """)
    assert http_exchange(port, raw).startswith(b"HTTP/1.1 400")
    assert backend.requests == 0
