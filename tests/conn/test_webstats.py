"""The stats page of a real luaproxy: CSV with scope, HTML, basic auth and the admin form's POST."""

from __future__ import annotations

import base64
import socket

from tests.helpers import free_port, parse_responses, read_all


def ask(port: int, target: str, method: str = "GET", body: str = "", auth: str | None = None
        ) -> tuple[int, dict[str, str], bytes]:
    extra = f"Authorization: Basic {base64.b64encode(auth.encode()).decode()}\r\n" if auth else ""
    head = (f"{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode() + body.encode())
        ((status, headers, content),) = parse_responses(read_all(sock))
    return status, headers, content


def test_stats_page_csv_html_auth_and_admin(write, luaproxy, port) -> None:
    locked = free_port()
    write("s.cfg", f"""
        defaults
           mode http
           timeout connect 2s
           timeout client 3s
           timeout server 3s
        frontend admin
           bind 127.0.0.1:{port}
           stats enable
           stats uri /stats
           stats refresh 10s
           stats admin if TRUE
           http-request return status 404 unless {{ path_beg /stats }}
        frontend locked
           bind 127.0.0.1:{locked}
           stats uri /
           stats auth ops:secret
           stats realm Ops
           stats scope b2
        backend b1
           server a 127.0.0.1:9
           server b 127.0.0.1:9
        backend b2
           server c 127.0.0.1:9
        """)
    luaproxy("-f", "s.cfg", wait_port=locked)
    assert ask(port, "/other")[0] == 404  # http-request rules come first, as in haproxy
    status, headers, body = ask(port, "/stats;csv;scope=b1")
    assert status == 200 and headers["content-type"] == "text/plain"
    lines = body.decode().splitlines()
    assert lines[0].startswith("# pxname,svname,") and {line.split(",")[0] for line in lines[1:]} == {"b1"}
    status, headers, body = ask(port, "/stats")
    assert status == 200 and b'<meta http-equiv="refresh" content="10">' in body and b'name="action"' in body
    status, headers, _ = ask(port, "/stats", "POST", "s=a&s=nope&action=maint&b=b1")
    assert (status, headers["location"]) == (303, "/stats;st=PART")
    csv = ask(port, "/stats;csv")[2].decode()
    assert ",MAINT," in next(line for line in csv.splitlines() if line.startswith("b1,a,"))
    status, headers, _ = ask(locked, "/")
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="Ops"'
    assert ask(locked, "/", auth="ops:wrong")[0] == 401
    status, _, body = ask(locked, "/;csv", auth="ops:secret")
    assert status == 200 and {line.split(",")[0] for line in body.decode().splitlines()[1:]} == {"b2"}
    status, headers, _ = ask(locked, "/", "POST", "s=c&action=maint&b=b2", auth="ops:secret")
    assert headers["location"] == "/;st=DENY"  # no 'stats admin' there
