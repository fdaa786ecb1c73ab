"""Cookie persistence against real servers: insert/indirect, option persist, rewrite and prefix."""

from __future__ import annotations

import json
import socket

from tests.helpers import HttpBackend, free_port, parse_responses, read_all


def get(port: int, cookie: str | None = None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    extra = f"Cookie: {cookie}\r\n" if cookie else ""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        head = f"{method} / HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
        sock.sendall(head.encode())
        ((status, headers, body),) = parse_responses(read_all(sock))
    return status, headers, body


def test_insert_indirect_persists_and_strips(write, luaproxy, port) -> None:
    one, two = HttpBackend("one"), HttpBackend("two")
    persist = free_port()
    try:
        write("c.cfg", f"""
            defaults
               mode http
               timeout connect 2s
               timeout client 3s
               timeout server 3s
            listen fe
               bind 127.0.0.1:{port}
               balance roundrobin
               cookie SRV insert indirect nocache httponly domain .example.com
               server s1 127.0.0.1:{one.port} cookie a
               server s2 127.0.0.1:{two.port} cookie b
            listen down
               bind 127.0.0.1:{persist}
               option persist
               cookie SRV insert indirect
               server s1 127.0.0.1:1 cookie a
               server s2 127.0.0.1:{two.port} cookie b
            """)
        luaproxy("-f", "c.cfg", wait_port=persist)
        _, headers, body = get(port)
        first = json.loads(body)["server"]
        value = "a" if first == "one" else "b"
        assert headers["set-cookie"] == f"SRV={value}; path=/; domain=.example.com; HttpOnly"
        assert headers["cache-control"] == "private"
        for _ in range(3):  # the cookie wins over round robin; indirect: the server never sees it
            _, headers, body = get(port, f"x=1; SRV={value}; y=2")
            seen = json.loads(body)
            assert seen["server"] == first and "set-cookie" not in headers
            assert dict(seen["headers"])["Cookie"] == "x=1; y=2"
        headers = get(port, "SRV=zz")[1]
        assert headers["set-cookie"].startswith("SRV=")  # invalid: balanced, a new cookie inserted
        # option persist: the cookie's server is tried even though nothing listens there
        assert get(persist, "SRV=a")[0] == 503
        assert json.loads(get(persist, "SRV=b")[2])["server"] == "two"
    finally:
        one.close()
        two.close()


APP = 'http-request return status 200 content-type text/plain lf-string "%[req.cook(JS)]" hdr Set-Cookie "JS=s7"'


def test_rewrite_and_prefix_modify_the_servers_cookie(write, luaproxy, port) -> None:
    prefix, app = free_port(), free_port()
    write("c.cfg", f"""
        defaults
           mode http
           timeout connect 2s
           timeout client 3s
           timeout server 3s
        listen rewrite
           bind 127.0.0.1:{port}
           cookie JS rewrite
           server s1 127.0.0.1:{app} cookie first
        listen prefix
           bind 127.0.0.1:{prefix}
           cookie JS prefix
           server s1 127.0.0.1:{app} cookie first
        listen app
           bind 127.0.0.1:{app}
           {APP}
        """)
    luaproxy("-f", "c.cfg", wait_port=app)
    assert get(port)[1]["set-cookie"] == "JS=first"
    _, headers, body = get(prefix, "JS=first~s7")
    assert headers["set-cookie"] == "JS=first~s7"
    assert body == b"s7"  # the prefix is taken off before the server sees its cookie


def test_dynamic_cookie_matches_haproxy() -> None:
    from luaproxy.worker.backend.cookie import dynamic_cookie

    # haproxy 2.6.12 sent "SRV=bdae634fb2641da0" for this key and server (cookie SRV insert dynamic)
    assert dynamic_cookie("secretkey", "127.0.0.1", 28462) == "bdae634fb2641da0"
    assert dynamic_cookie("secretkey", "backend.example", 80) is None
