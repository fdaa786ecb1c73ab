"""HTTP-mode cases checked against Debian's haproxy 2.6 when it is installed.

The client sends raw bytes and compares status lines, headers (names lower-cased,
as a set: haproxy 2.6 emits a Lua applet's headers in Lua hash-table order, which
changes from run to run) and bodies.
"""

from __future__ import annotations

import socket

import pytest

from tests.compat.harness import HAPROXY, Case, run_case
from tests.helpers import read_all

DEFAULTS = """
    defaults
       mode http
       timeout connect 2s
       timeout client 3s
       timeout server 3s
"""


def raw(request: bytes):
    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(request)
            return read_all(s, 2.0)
    return client


def get(path: str, headers: str = "") -> object:
    return raw(f"GET {path} HTTP/1.1\r\nHost: compat\r\n{headers}Connection: close\r\n\r\n".encode())


LUA = """
core.register_fetches("hello", function(txn) return "hello" end)
core.register_action("hdrs", {"http-req"}, function(txn)
   local h = txn.http:req_get_headers()
   local names = {}
   for name, _ in pairs(h) do names[#names + 1] = name end
   table.sort(names)
   txn:set_var("txn.names", table.concat(names, ","))
   txn:set_var("txn.second", h["x-multi"][1])
end)
core.register_service("svc", "http", function(applet)
   local body = applet.method .. " " .. applet.path .. " " .. applet.qs
   applet:set_status(201)
   applet:add_header("content-length", string.len(body))
   applet:add_header("content-type", "text/plain")
   applet:start_response()
   applet:send(body)
end)
"""

CASES = [
    Case("return_and_deny", DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request deny if {{ path /deny }}
           http-request return status 202 content-type text/plain string done
        """, raw(b"GET /deny HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")),
    Case("redirects", DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request redirect prefix /v2 code 301 if {{ path_beg /api }}
           http-request redirect location /elsewhere
        """, raw(b"GET /api/x?y=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /z HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")),
    Case("lua_hello_redirect", "global\n   lua-load case.lua\n" + DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request redirect location /%[lua.hello]
        """, get("/"), LUA),
    Case("lf_string_samples", DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request return status 200 content-type text/plain lf-string "SAMPLES"
        """.replace("SAMPLES", "%[path] %[query] %[req.hdr(x-a)] %[req.hdr_cnt(x-a)] %[url_param(k)] %[method] "
                               "%[req.fhdr(x-a)] %[str(abc),base64,upper]"),
        get("/p/q?k=v&z=1", "X-A: one, two\r\nX-A: three\r\n")),
    Case("lua_headers_and_vars", "global\n   lua-load case.lua\n" + DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request lua.hdrs
           http-request return status 200 content-type text/plain lf-string "%[var(txn.names)] %[var(txn.second)]"
        """, get("/", "X-Multi: a\r\nX-Multi: b\r\n"), LUA),
    Case("lua_service", "global\n   lua-load case.lua\n" + DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request use-service lua.svc
        """, get("/svc?a=b"), LUA),
    Case("bad_request", DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request return status 200 content-type text/plain string ok
        """, raw(b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")),
    Case("no_server", DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           default_backend b
        backend b
        """, get("/")),
    Case("http10_close", DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request return status 200 content-type text/plain string ten
        """, raw(b"GET / HTTP/1.0\r\n\r\n")),
]


def normalise(data: bytes) -> list[tuple[str, list[tuple[str, str]], bytes]]:
    """Responses as (status line, sorted lower-cased headers, body)."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = [(n.strip().lower(), v.strip()) for n, _, v in (line.partition(":") for line in lines[1:])]
        length = int(dict(headers).get("content-length", len(rest)))
        out.append((lines[0], sorted(h for h in headers if h[0] != "date"), rest[:length]))
        data = rest[length:]
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_as_haproxy(case, tmp_path, echo_server):
    ours = normalise(run_case(case, "luaproxy", tmp_path, echo_server))
    assert ours, "luaproxy sent nothing"
    if HAPROXY is None:
        pytest.skip("Debian's haproxy is not installed: only luaproxy ran")
    assert ours == normalise(run_case(case, "haproxy", tmp_path, echo_server))
