"""haproxy 2.6's later Lua API in real luaproxy processes (what the compat cases cannot compare)."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest

from tests.helpers import HttpBackend, http_exchange, make_certificate, parse_responses


def test_act_yield_runs_the_action_again_after_wake_time(write, luaproxy, port):
    write("y.lua", """
        core.register_action("again", {"http-req"}, function(txn)
           local n = (txn:get_var("txn.n") or 0) + 1
           txn:set_var("txn.n", n)
           if n < 3 then
              act.wake_time(20)
              return act.YIELD
           end
        end)
        """)
    write("y.cfg", f"""
        global
           lua-load y.lua
        defaults
           mode http
           timeout client 5s
        frontend f
           bind 127.0.0.1:{port}
           http-request lua.again
           http-request return status 200 hdr runs "%[var(txn.n)]"
        """)
    luaproxy("-f", "y.cfg", wait_port=port)
    request = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    (status, headers, _), = parse_responses(http_exchange(port, request))
    assert status == 200 and headers["runs"] == "3"


def test_map_regm_substitutes_groups(write, luaproxy, port):
    write("r.map", "^/user/([0-9]+)$ id=\\1\n")
    write("r.lua", """
        local m = Map.new("r.map", Map._regm)
        core.register_fetches("route", function(txn) return m:lookup(txn.f:path()) or "none" end)
        """)
    write("r.cfg", f"""
        global
           lua-load r.lua
        defaults
           mode http
        frontend f
           bind 127.0.0.1:{port}
           http-request return status 200 hdr route "%[lua.route]"
        """)
    luaproxy("-f", "r.cfg", wait_port=port)
    for path, expected in (("/user/42", "id=42"), ("/other", "none")):
        (_, headers, _), = parse_responses(http_exchange(port, f"GET {path} HTTP/1.1\r\nHost: a\r\n"
                                                               "Connection: close\r\n\r\n".encode()))
        assert headers["route"] == expected


def test_a_lua_c_module_in_a_worker(write, luaproxy, port):
    write("j.lua", """
        local cjson = require "cjson"
        core.register_service("json", "http", function(applet)
           local body = cjson.encode({path = applet.path, method = applet.method})
           applet:add_header("content-type", "application/json")
           applet:add_header("content-length", #body)
           applet:start_response()
           applet:send(body)
        end)
        """)
    write("j.cfg", f"""
        global
           lua-load j.lua
        defaults
           mode http
        frontend f
           bind 127.0.0.1:{port}
           http-request use-service lua.json
        """)
    luaproxy("-f", "j.cfg", wait_port=port)
    (status, _, body), = parse_responses(http_exchange(port, b"GET /x HTTP/1.1\r\nHost: a\r\n"
                                                             b"Connection: close\r\n\r\n"))
    assert status == 200 and json.loads(body) == {"path": "/x", "method": "GET"}


HTTPCLIENT_LUA = """
local function summary(r, err)
   if r == nil then return "nil:" .. tostring(err) end
   local body = r.body
   local ok, decoded = pcall(require("cjson").decode, body)
   if ok and type(decoded) == "table" then
      body = decoded.method .. " " .. decoded.path .. " " .. decoded.body
   end
   return r.status .. " " .. body
end
core.register_service("calls", "http", function(applet)
   local hc = core.httpclient()
   local base = applet.sf:req_hdr("x-base")
   local out = {
      summary(hc:get{url = base .. "/get?q=1", headers = {["x-one"] = {"1", "2"}}}),
      summary(hc:post{url = base .. "/post", body = "posted"}),
      summary(hc:put{url = base .. "/put", body = "put"}),
      summary(hc:delete{url = base .. "/del"}),
      summary(hc:head{url = base .. "/head"}),
      summary(hc:get{url = base .. "/status/503"}),
      summary(hc:get{url = "http://127.0.0.1:1/", timeout = 500}),
   }
   local body = table.concat(out, "\\n")
   applet:add_header("content-length", #body)
   applet:start_response()
   applet:send(body)
end)
"""


def _calls(port: int, base: str) -> list[str]:
    request = f"GET / HTTP/1.1\r\nHost: a\r\nx-base: {base}\r\nConnection: close\r\n\r\n".encode()
    (status, _, body), = parse_responses(http_exchange(port, request, timeout=15))
    assert status == 200
    return body.decode().split("\n")


def _https_backend(cert: Path, key: Path) -> HttpBackend:
    secure = HttpBackend()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    secure.server.socket = context.wrap_socket(secure.server.socket, server_side=True)
    return secure


def test_httpclient_methods_over_http_and_https(write, luaproxy, port, tmp_path):
    cert, key = make_certificate(tmp_path)
    write("c.lua", HTTPCLIENT_LUA)
    write("c.cfg", f"""
        global
           lua-load c.lua
           httpclient.ssl.ca-file {cert}
        defaults
           mode http
           timeout client 10s
        frontend f
           bind 127.0.0.1:{port}
           http-request use-service lua.calls
        """)
    luaproxy("-f", "c.cfg", wait_port=port)
    backend = HttpBackend()
    try:
        lines = _calls(port, f"http://127.0.0.1:{backend.port}")
    finally:
        backend.close()
    assert lines[:6] == ["200 GET /get?q=1 ", "200 POST /post posted", "200 PUT /put put", "200 DELETE /del ",
                         "200 ", "503 GET /status/503 "]
    assert lines[6].startswith("nil:Can't connect")
    secure = _https_backend(cert, key)
    try:
        lines = _calls(port, f"https://localhost:{secure.port}")
    finally:
        secure.close()
    assert lines[1] == "200 POST /post posted"


@pytest.mark.parametrize(("globals_", "expected"), [
    ("", "nil:SSL handshake failure: self-signed certificate"),
    ("httpclient.ssl.verify none", "200 GET /get?q=1 "),
    ("httpclient.ssl.ca-file {cert}", "200 GET /get?q=1 "),
])
def test_httpclient_verifies_servers_as_haproxy(write, luaproxy, port, tmp_path, globals_, expected):
    """Against the system CAs by default (a self-signed server fails), the ca-file global, or not at all."""
    cert, key = make_certificate(tmp_path)
    write("c.lua", HTTPCLIENT_LUA)
    write("c.cfg", f"""
        global
           lua-load c.lua
           {globals_.format(cert=cert)}
        defaults
           mode http
           timeout client 10s
        frontend f
           bind 127.0.0.1:{port}
           http-request use-service lua.calls
        """)
    luaproxy("-f", "c.cfg", wait_port=port)
    secure = _https_backend(cert, key)
    try:
        lines = _calls(port, f"https://localhost:{secure.port}")
    finally:
        secure.close()
    assert lines[0] == expected


def test_httpclient_ca_file_that_cannot_load_is_a_config_error(write, luaproxy, tmp_path):
    write("bad.pem", "not a certificate\n")
    write("c.cfg", """
        global
           httpclient.ssl.ca-file bad.pem
           httpclient.ssl.verify sometimes
        """)
    proc = luaproxy("-c", "-f", "c.cfg")
    assert proc.proc.wait(10) != 0
    err = proc.stderr()
    assert "c.cfg:2" in err and "cannot load CA file" in err
    assert "c.cfg:3" in err and "expects 'none' or 'required', got 'sometimes'" in err


def test_get_info_in_each_worker(write, luaproxy, port):
    write("i.lua", """
        core.register_fetches("info", function(txn)
           local i = core.get_info()
           return i.Name .. " " .. i.Nbproc .. " " .. i.Process_num .. " " .. i.CumReq .. " " .. i.Pid
        end)
        """)
    write("i.cfg", f"""
        global
           nbproc 2
           lua-load i.lua
        defaults
           mode http
        frontend f
           bind 127.0.0.1:{port}
           http-request return status 200 hdr info "%[lua.info]"
        """)
    proc = luaproxy("-f", "i.cfg", wait_port=port, workers=2)
    seen = {}
    for _ in range(40):
        (_, headers, _), = parse_responses(http_exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n"
                                                               b"Connection: close\r\n\r\n"))
        name, nbproc, slot, requests, pid = headers["info"].split()
        assert (name, nbproc) == ("luaproxy", "2") and int(requests) >= 1
        seen[slot] = int(pid)
        if len(seen) == 2:
            break
    assert set(seen) == {"1", "2"} and set(seen.values()) == set(proc.workers())


def test_proxy_pause_and_resume_from_lua_reach_every_worker(write, luaproxy, port, tmp_path):
    """Proxy:pause() stops the frontend's listeners in every worker (connections wait in the backlog) and
    Proxy:resume() starts them again, as ``disable/enable frontend`` do."""
    import socket

    from tests.helpers import free_port, wait_until

    ctl = free_port()
    write("p.lua", """
        core.register_service("ctl", "http", function(applet)
           local web = core.frontends["web"]
           if applet.path == "/pause" then web:pause() else web:resume() end
           applet:set_status(200)
           applet:start_response()
           applet:send("done")
        end)
        """)
    write("p.cfg", f"""
        global
           nbproc 2
           lua-load p.lua
           stats socket {tmp_path}/s.sock level admin
        defaults
           mode http
           timeout client 5s
        frontend web
           bind 127.0.0.1:{port}
           http-request return status 200 content-type text/plain string ok
        frontend ctl
           bind 127.0.0.1:{ctl}
           http-request use-service lua.ctl
        """)
    luaproxy("-f", "p.cfg", wait_port=port, workers=2)

    def answers(timeout: float = 1.0) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                return sock.recv(100).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def call(path: str) -> None:
        request = f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode()
        assert parse_responses(http_exchange(ctl, request))[0][0] == 200

    assert answers()
    call("/pause")
    assert wait_until(lambda: not answers(0.3), 5)
    assert not any(answers(0.3) for _ in range(4)), "a worker still accepts"
    call("/resume")
    assert wait_until(answers, 5)
    assert all(answers() for _ in range(6))
