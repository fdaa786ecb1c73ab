"""HTTP rules of HAProxy 2.6 over real sockets: reject, auth, normalize-uri, wait-for-body,
http-response redirect, tcp-response reject, http-restrict-req-hdr-names, %Td, and the CLI's set var."""

from __future__ import annotations

import socket
import time

import pytest

from tests.e2e.test_http import echoed, get, start
from tests.helpers import HttpBackend, read_all, talk, wait_until


@pytest.fixture
def backend():
    server = HttpBackend()
    yield server
    server.close()


def test_reject_auth_normalize_and_restricted_header_names(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           http-request reject if {{ path /reject }}
           http-request auth realm Zone if {{ path /auth }}
           http-request auth if {{ path /auth-default }}
           http-request normalize-uri path-merge-slashes
           http-request normalize-uri path-strip-dotdot
           http-request normalize-uri percent-decode-unreserved strict
           http-request normalize-uri query-sort-by-name
           default_backend be
        backend be
           option http-restrict-req-hdr-names delete
           http-request deny deny_status 403 if {{ path /deny-names }}
           server s1 127.0.0.1:{backend.port}
        backend strict
           option http-restrict-req-hdr-names reject
        """)
    assert talk(port, b"GET /reject HTTP/1.1\r\nHost: t\r\n\r\n") == b""
    status, headers, _ = get(port, "/auth")
    assert (status, headers["www-authenticate"]) == (401, 'Basic realm="Zone"')
    assert get(port, "/auth-default")[1]["www-authenticate"] == 'Basic realm="fe"'
    sent = echoed(get(port, "//a/b/../%61?z=1&a=2", headers="X-my_hdr: on\r\nx-ok: yes\r\n"))
    assert sent["path"] == "/a/a?a=2&z=1"
    names = [name.lower() for name, _ in sent["headers"]]
    assert "x-ok" in names and "x-my_hdr" not in names
    assert get(port, "/%%36%36")[0] == 400


def test_restricted_header_names_rejected(write, luaproxy, port, backend):
    start(write, luaproxy, port, f"""
        listen li
           bind 127.0.0.1:{{port}}
           option http-restrict-req-hdr-names reject
           server s1 127.0.0.1:{backend.port}
        fcgi-app unused
           docroot /tmp
        """)
    assert get(port, "/", headers="X-my_hdr: on\r\n")[0] == 403
    assert get(port, "/", headers="X-my-hdr: on\r\n")[0] == 200


def test_response_redirect_deny_keep_the_connection_and_tcp_response_reject_closes(write, luaproxy, port,
                                                                                   backend):
    start(write, luaproxy, port, f"""
        listen li
           bind 127.0.0.1:{{port}}
           tcp-response content reject if {{ path /close }}
           http-response redirect location /elsewhere if {{ path /redir }}
           http-response deny if {{ path /deny }}
           server s1 127.0.0.1:{backend.port}
        """)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /redir HTTP/1.1\r\nHost: t\r\n\r\n")
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 302") and b"location: /elsewhere" in first
        s.sendall(b"GET /deny HTTP/1.1\r\nHost: t\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 502")
        s.sendall(b"GET /close HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert read_all(s) == b""


def test_wait_for_body_times_out_with_408_or_goes_on_at_least(write, luaproxy, port):
    start(write, luaproxy, port, """
        listen li
           bind 127.0.0.1:{port}
           http-request wait-for-body time 200ms if { path /all }
           http-request wait-for-body time 200ms at-least 10 if { path /ten }
           http-request return status 200 content-type text/plain lf-string "%[req.body]"
        """)
    head = "POST {} HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n0123456789"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        started = time.monotonic()
        s.sendall(head.format("/all").encode())
        answer = read_all(s)
        assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 2
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head.format("/ten").encode())
        time.sleep(0.4)  # past the 200ms: only at-least lets the request go on without a 408
        s.sendall(b"abcdefghij")  # the rest, which the reply's drain reads
        answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\n0123456789")


def test_response_wait_for_body_gives_504_when_the_server_is_slow(write, luaproxy, port):
    server = socket.create_server(("127.0.0.1", 0))
    server_port = server.getsockname()[1]
    start(write, luaproxy, port, f"""
        listen li
           bind 127.0.0.1:{{port}}
           http-response wait-for-body time 200ms
           server s1 127.0.0.1:{server_port}
        """)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
            assert client.recv(4096).startswith(b"HTTP/1.1 504")
    server.close()


def test_td_log_variable_and_cli_set_var(write, luaproxy, port, tmp_path):
    sock_path = tmp_path / "admin.sock"
    syslog = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    syslog.bind(("127.0.0.1", 0))
    syslog.settimeout(5)
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           log 127.0.0.1:{syslog.getsockname()[1]} local0
           log-format "Td=%Td Tt=%Tt"
           http-request return status 200 hdr x-var "%[var(proc.v)]"
        """, extra_global=f"stats socket {sock_path} level admin\n           set-var proc.v str(start)")
    assert get(port, "/")[1]["x-var"] == "start"
    line = syslog.recv(4096).decode()
    assert "Td=-1 Tt=" in line  # a reply of our own has no data phase: haproxy 2.6 logs -1 too
    syslog.close()

    def cli(command: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(sock_path))
            s.sendall(command.encode() + b"\n")
            return read_all(s).decode()

    assert wait_until(sock_path.exists)
    assert "experimental mode" in cli("set var proc.v str(x)")
    assert cli("experimental-mode on; set var proc.v fmt %[var(proc.v)]-changed").strip() == ""
    assert cli("get var proc.v").startswith("proc.v: type=str value=<start-changed>")
    assert get(port, "/")[1]["x-var"] == "start-changed"


def test_defaults_rules_need_explicit_tables_and_backends(write, luaproxy):
    write("bad.cfg", """
        defaults invalid
           mode http
           http-request set-header x-test "%[srv_conn(www)]"
           http-request track-sc0 src
        backend be from invalid
           server www 127.0.0.1:80
        """)
    proc = luaproxy("-c", "-f", "bad.cfg")
    assert proc.wait() != 0
    output = proc.stdout() + proc.stderr()
    assert "bad.cfg:3" in output and "names no backend" in output
    assert "bad.cfg:4" in output and "explicit table" in output


def test_strict_mode_fails_or_skips_a_rewrite_that_does_not_fit(write, luaproxy, port, backend):
    value = "1234567890" * 6
    start(write, luaproxy, port, f"""
        listen li
           bind 127.0.0.1:{{port}}
           option http-buffer-request
           http-request set-header x-hdr1 {value}
           http-request strict-mode off if {{ path /lenient }}
           http-request set-header x-hdr2 {value}
           server s1 127.0.0.1:{backend.port}
        """, extra_global="tune.bufsize 2048\n           tune.maxrewrite 128")
    body = b"x" * 2000
    assert get(port, "/strict", method="POST", body=body)[0] == 500
    sent = dict(echoed(get(port, "/lenient", method="POST", body=body))["headers"])
    assert sent["x-hdr1"] == value and "x-hdr2" not in sent
    assert get(port, "/small")[0] == 200  # a small request has room for both
