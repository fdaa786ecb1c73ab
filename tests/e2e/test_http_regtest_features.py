"""HTTP features HAProxy's reg-tests check: http-after-response, unique-id-format/-header, errorfile on deny."""

from __future__ import annotations

import pytest

from tests.e2e.test_http import echoed, get, start
from tests.helpers import HttpBackend


@pytest.fixture
def backend():
    server = HttpBackend()
    yield server
    server.close()


def test_after_response_rules_apply_to_relayed_and_own_responses(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           http-request deny deny_status 403 if {{ path /deny }}
           http-after-response set-header x-after fe
           default_backend be
        backend be
           http-after-response set-header x-be be
           http-after-response set-status 202 if {{ status 200 }}
           server s1 127.0.0.1:{backend.port}
        """)
    status, headers, _ = get(port, "/")
    assert (status, headers["x-after"], headers["x-be"]) == (202, "fe", "be")
    status, headers, _ = get(port, "/deny")
    assert (status, headers["x-after"]) == (403, "fe")


def test_after_response_rules_apply_to_a_lua_service(write, luaproxy, port):
    """haproxy runs http-after-response on an applet's answer too (a Lua service, the stats page)."""
    start(write, luaproxy, port, """
        frontend fe
           bind 127.0.0.1:{port}
           http-request use-service lua.hello
           http-after-response set-header x-after fe
           http-after-response set-status 203
        """, lua="""
core.register_service("hello", "http", function(applet)
   applet:set_status(200)
   applet:add_header("content-length", "2")
   applet:start_response()
   applet:send("hi")
end)
""")
    status, headers, body = get(port, "/")
    assert (status, headers["x-after"], body) == (203, "fe", b"hi")


def test_unique_id_is_rendered_once_and_sent_to_the_server(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           unique-id-format ID-%[req.hdr(in)]-%[uuid]
           unique-id-header X-Unique-ID
           http-response set-header a %[unique-id]
           http-response set-header b %[unique-id]
           default_backend be
        backend be
           server s1 127.0.0.1:{backend.port}
        """)
    status, headers, body = get(port, "/", headers="in: 42\r\n")
    sent = dict((name.lower(), value) for name, value in echoed((status, headers, body))["headers"])
    assert headers["a"] == headers["b"] == sent["x-unique-id"]
    assert headers["a"].startswith("ID-42-") and len(headers["a"]) == len("ID-42-") + 36


def test_deny_status_answers_with_the_errorfile(write, luaproxy, port, tmp_path):
    write("400.http", "HTTP/1.1 400 Bad request\r\nx-err-type: mine\r\ncontent-length: 0\r\n\r\n")
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           errorfile 400 {tmp_path}/400.http
           http-request deny deny_status 400
        """)
    status, headers, _ = get(port, "/")
    assert (status, headers["x-err-type"]) == (400, "mine")


def test_path_rewrites(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           http-request set-path /fe%[path]
           http-request replace-path (.*) /foo\\1
           http-request set-pathq %[path]?app=x&%[query]
           http-request replace-pathq /([^?]*)\\?app=([^&]*)&?(.*) /\\2/\\1?\\3
           default_backend be
        backend be
           server s1 127.0.0.1:{backend.port}
        """)
    response = get(port, "/req?a=1")
    assert echoed(response)["path"] == "/x/foo/fe/req?a=1"


def test_http_errors_sections_and_deny_errorfiles(write, luaproxy, port, tmp_path):
    for name in ("a", "b", "c"):
        write(f"{name}.http", f"HTTP/1.1 404 Not Found\r\nx-err: {name}\r\ncontent-length: 0\r\n\r\n")
    start(write, luaproxy, port, f"""
        http-errors set1
           errorfile 404 {tmp_path}/a.http
        frontend fe
           bind 127.0.0.1:{{port}}
           errorfiles set1
           http-request deny status 404 errorfile {tmp_path}/b.http if {{ path /b }}
           http-request deny deny_status 404 errorfiles set1 if {{ path /a2 }}
           http-request deny deny_status 404
        """)
    assert get(port, "/")[1]["x-err"] == "a"
    assert get(port, "/b")[1]["x-err"] == "b"
    assert get(port, "/a2")[1]["x-err"] == "a"


def test_monitor_uri_answers_before_any_rule(write, luaproxy, port):
    start(write, luaproxy, port, """
        frontend fe
           bind 127.0.0.1:{port}
           monitor-uri /health
           http-request deny
        """)
    assert get(port, "/health")[0] == 200
    assert get(port, "/hEAlth")[0] == 403


def test_set_timeout_and_the_timeout_fetches(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        listen li
           bind 127.0.0.1:{{port}}
           http-request set-timeout server int(3),mul(1000) if {{ path /three }}
           http-response set-header x-timeouts "%[be_server_timeout] %[cur_server_timeout]"
           server s1 127.0.0.1:{backend.port}
        """)
    assert get(port, "/")[1]["x-timeouts"] == "5000 5000"
    assert get(port, "/three")[1]["x-timeouts"] == "5000 3000"


def test_set_src_dst_and_forwardfor_originalto_except(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           http-request set-src hdr(x-src)
           http-request set-dst hdr(x-dst)
           default_backend be
        backend be
           option forwardfor except 10.0.0.0/8
           option originalto header X-Dst
           server s1 127.0.0.1:{backend.port}
        """)
    sent = dict(echoed(get(port, "/", headers="x-src: 192.0.2.7\r\nx-dst: 2001:db8::1\r\n"))["headers"])
    assert (sent["X-Forwarded-For"], sent["X-Dst"]) == ("192.0.2.7", "2001:db8::1")
    sent = dict(echoed(get(port, "/", headers="x-src: 10.1.2.3\r\nx-dst: 10.0.0.1\r\n"))["headers"])
    assert "X-Forwarded-For" not in sent and sent["X-Dst"] == "10.0.0.1"


def test_server_port_zero_follows_set_dst_port(write, luaproxy, port, backend):
    start(write, luaproxy, port, """
        listen li
           bind 127.0.0.1:{port}
           http-request set-dst-port hdr(x-port)
           server any 0.0.0.0:0
        """)
    response = get(port, "/", headers=f"x-port: {backend.port}\r\n")
    assert response[0] == 200 and echoed(response)["path"] == "/"


def test_http_request_capture_slots(write, luaproxy, port):
    start(write, luaproxy, port, """
        frontend fe
           bind 127.0.0.1:{port}
           http-request capture hdr(host) len 4
           declare capture request len 8
           http-request capture hdr(x-a) id 1
           http-request return status 200 hdr x-0 "%[capture.req.hdr(0)]" hdr x-1 "%[capture.req.hdr(1)]"
        """)
    _, headers, _ = get(port, "/", headers="x-a: 0123456789\r\n")
    assert (headers["x-0"], headers["x-1"]) == ("test", "01234567")


def test_dynamic_use_backend_and_redirect_ignore_empty(write, luaproxy, port, backend, tmp_path):
    """use_backend %[...] names its backend per request (an unknown name: default_backend, as haproxy);
    redirect takes its words in any order, and ignore-empty skips a rule whose location renders empty."""
    (tmp_path / "moved.map").write_text("/old /new\n")
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           http-request redirect code 301 location %[path,map_str({tmp_path}/moved.map)] ignore-empty
           use_backend be_%[req.hdr(x-pick)] if {{ req.hdr(x-pick) -m found }}
           default_backend be_default
        backend be_a
           http-request return status 200 content-type text/plain string a
        backend be_default
           server s1 127.0.0.1:{backend.port}
        """)
    status, headers, _ = get(port, "/old")
    assert (status, headers["location"]) == (301, "/new")
    assert get(port, "/", "x-pick: a\r\n")[2] == b"a"
    assert echoed(get(port, "/x", "x-pick: nosuch\r\n"))["path"] == "/x"
    assert echoed(get(port, "/y"))["path"] == "/y"
