"""Lua in HTTP mode: the spec's examples verbatim, the HTTP class, fetches, services, errors."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.e2e.test_http import get
from tests.helpers import HttpBackend, free_port, http_exchange, parse_responses, wait_until
from tests.logs.syslog import SyslogListener


@pytest.fixture
def backend():
    server = HttpBackend()
    yield server
    server.close()


def config(port: int, rules: str, backend_port: int | None = None) -> str:
    server = f"   server s1 127.0.0.1:{backend_port}\n" if backend_port else ""
    return f"""
global
   lua-load script.lua
defaults
   mode http
   timeout connect 2s
   timeout client 5s
   timeout server 5s
frontend example
   bind 127.0.0.1:{port}
{rules}
   default_backend be
backend be
{server}"""


def test_spec_lua_hello_redirect(write, luaproxy, port):
    write("script.lua", """
core.register_fetches("hello", function(txn)
    return "hello"
end)
""")
    write("h.cfg", config(port, "   http-request redirect location /%[lua.hello]"))
    luaproxy("-f", "h.cfg", wait_port=port)
    status, headers, _ = get(port, "/")
    assert (status, headers["location"]) == (302, "/hello")


GEO_SCRIPT = """
default = "usa"

-- Create and load map
geo = Map.new("geo.map", Map.ip);

-- Create new fetch that returns the user country
core.register_fetches("country", function(txn)
  local src;
  local loc;

  src = txn.f:fhdr("x-forwarded-for");
  if (src == nil) then
    src = txn.f:src()
    if (src == nil) then
      return default;
    end
  end

  -- Perform lookup
  loc = geo:lookup(src);

  if (loc == nil) then
    return default;
  end

  return loc;
end);
"""


def test_spec_geo_map_example(write, luaproxy, port):
    write("script.lua", GEO_SCRIPT)
    write("geo.map", "# network  country\n10.0.0.0/8 france\n192.168.1.0/24 germany\n127.0.0.1 localhost-land\n")
    write("h.cfg", config(port, '   http-request return status 200 content-type text/plain lf-string "%[lua.country]"'))
    luaproxy("-f", "h.cfg", wait_port=port)
    assert get(port, "/", "X-Forwarded-For: 10.1.2.3\r\n")[2] == b"france"
    assert get(port, "/", "X-Forwarded-For: 192.168.1.77\r\n")[2] == b"germany"
    assert get(port, "/", "X-Forwarded-For: 8.8.8.8\r\n")[2] == b"usa"
    assert get(port, "/")[2] == b"localhost-land"


HTTP_CLASS = """
core.register_action("edit", {"http-req"}, function(txn)
  local h = txn.http:req_get_headers()
  txn.http:req_set_header("x-count", tostring(#h["x-multi"] + 1))
  txn.http:req_add_header("x-first", h["x-multi"][0])
  txn.http:req_del_header("x-remove")
  txn.http:req_rep_header("x-rep", "^(.*)-(.*)$", "\\\\2-\\\\1")
  txn.http:req_replace_value("x-val", "^a", "A")
  txn.http:req_set_method("PATCH")
  txn.http:req_set_path("/new")
  txn.http:req_set_query("a=1")
  local old = txn.http:req_get_header()
  txn:set_var("txn.host", old["host"][0])
end)

core.register_action("uri", {"http-req"}, function(txn, uri)
  txn.http.req.set_uri(txn.http, uri)
end, 1)

core.register_action("resp", {"http-res"}, function(txn)
  local h = txn.http:res_get_headers()
  txn.http:res_set_header("x-type", h["content-type"][0])
  txn.http:res_add_header("x-host", txn:get_var("txn.host"))
  txn.http:res_replace_header("x-type", "json", "JSON")
  txn.http:res_del_header("content-type")
  txn.http:res_set_status(202)
end)

function spec_form(txn)
  txn.http:req_add_header("x-spec", txn.sf:method() .. " " .. txn.f:path())
end
"""


def test_http_class_both_spellings(write, luaproxy, port, backend):
    write("script.lua", HTTP_CLASS)
    write("h.cfg", config(port, "   http-request lua.edit\n   http-request lua spec_form\n"
                                "   http-response lua.resp", backend.port))
    luaproxy("-f", "h.cfg", wait_port=port)
    status, headers, body = get(port, "/old?z=9", "X-Multi: a\r\nX-Multi: b\r\nX-Remove: 1\r\n"
                                                  "X-Rep: l-r\r\nX-Val: ab, ac\r\n")
    seen = json.loads(body)
    names = dict(seen["headers"])
    assert (seen["method"], seen["path"]) == ("PATCH", "/new?a=1")
    # Header tables are 0-based as in HAProxy, so Lua's # counts one less than the values.
    assert names["x-count"] == "2" and names["x-first"] == "a" and "X-Remove" not in names
    # A matching value is replaced whole by the expanded template, as HAProxy's exp_replace does.
    assert names["X-Rep"] == "r-l" and names["X-Val"] == "A, A"
    assert names["x-spec"] == "PATCH /new"
    assert status == 202 and headers["x-type"] == "JSON" and headers["x-host"] == "test"
    assert "content-type" not in headers


def test_spec_set_uri_spelling(write, luaproxy, port, backend):
    write("script.lua", HTTP_CLASS)
    write("h.cfg", config(port, "   http-request lua.uri /from/lua?k=v", backend.port))
    luaproxy("-f", "h.cfg", wait_port=port)
    assert json.loads(get(port, "/")[2])["path"] == "/from/lua?k=v"


def test_fetches_and_converters_from_lua(write, luaproxy, port):
    write("script.lua", """
core.register_converters("shout", function(s, suffix) return s:upper() .. (suffix or "!") end)
core.register_fetches("pair", function(txn, a, b) return a .. "+" .. b end)
core.register_action("probe", {"http-req"}, function(txn)
  local parts = {
    txn.f:req_hdr("x-a"), tostring(txn.f:hdr_cnt("x-a")), txn.sf:url_param("k"),
    tostring(txn.f:req_hdr("missing")), "[" .. txn.sf:req_hdr("missing") .. "]",
    txn.c:upper("abc"), txn.sc:base64("hi"), tostring(txn.c:djb2("x")),
    tostring(txn.sc:ipmask(txn.f:src(), 24, 112)), tostring(txn.c:ipmask("not an ip", 24)),
  }
  txn:set_var("req.answer", table.concat(parts, " "))
end)
""")
    answer = '"%[var(req.answer)] %[str(x),lua.shout] %[lua.pair(1,2)]"'
    write("h.cfg", config(port, f"""   http-request lua.probe
   http-request return status 200 content-type text/plain lf-string {answer}
"""))
    luaproxy("-f", "h.cfg", wait_port=port)
    body = get(port, "/p?k=val", "X-A: one\r\n")[2].decode()
    assert body == "one 1 val nil [] ABC aGk= 177693 127.0.0.0 nil X! 1+2"


def test_http_service(write, luaproxy, port):
    write("script.lua", """
core.register_service("hello", "http", function(applet)
  local body = applet:receive()
  local response = "hello " .. applet.method .. " " .. applet.path .. " " .. applet.qs
                   .. " " .. applet.headers["host"][0] .. " " .. tostring(applet.length) .. " " .. body
  applet:set_status(200)
  applet:add_header("content-length", string.len(response))
  applet:add_header("content-type", "text/plain")
  applet:start_response()
  applet:send(response)
end)
core.register_service("stream", "http", function(applet)
  applet:start_response()
  applet:send("part1,")
  applet:send("part2")
end)
""")
    write("h.cfg", config(port, "   http-request use-service lua.stream if { path /stream }\n"
                                "   http-request use-service lua.hello"))
    luaproxy("-f", "h.cfg", wait_port=port)
    assert get(port, "/svc?x=1", method="POST", body=b"payload")[2] == b"hello POST /svc x=1 test 7 payload"
    status, headers, body = get(port, "/stream")
    assert (status, headers["transfer-encoding"], body) == (200, "chunked", b"part1,part2")


def test_lua_error_in_http_action_gives_500_and_worker_survives(write, luaproxy, port, backend):
    write("script.lua", """
core.register_action("boom", {"http-req"}, function(txn)
  if txn.f:path() == "/boom" then error("http boom") end
end)
""")
    write("h.cfg", config(port, "   http-request lua.boom", backend.port))
    proc = luaproxy("-f", "h.cfg", wait_port=port)
    assert get(port, "/boom")[0] == 500
    assert get(port, "/fine")[0] == 200
    assert "Lua function 'boom': runtime error: script.lua:2: http boom" in proc.stderr()


def test_txn_done_with_raw_response_spec_style(write, luaproxy, port):
    write("script.lua", """
function raw(txn)
  txn.res:send("HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nraw reply")
  txn:close()
end
""")
    write("h.cfg", config(port, "   http-request lua raw"))
    luaproxy("-f", "h.cfg", wait_port=port)
    out = http_exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert out == b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nraw reply"
    assert parse_responses(out)[0][0] == 200


def test_service_ends_quietly_when_the_client_leaves(write, luaproxy, port):
    import socket
    import time

    write("script.lua", """
core.register_service("reader", "http", function(applet)
  local body = applet:receive()
  applet:start_response()
  applet:send("got " .. #body)
  applet:send(" more")
end)
""")
    write("h.cfg", config(port, "   http-request use-service lua.reader"))
    proc = luaproxy("-f", "h.cfg", wait_port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly ten b")
        time.sleep(0.2)
    time.sleep(0.5)
    assert get(port, "/", method="POST", body=b"abc")[2] == b"got 3 more"
    assert "runtime error" not in proc.stderr()


def test_http_service_output_reaches_the_client_while_it_waits(write, luaproxy, port):
    """Output is buffered until the service waits, ends or fills a buffer, as HAProxy's applets."""
    write("script.lua", """
core.register_service("slow", "http", function(applet)
  applet:start_response()
  applet:send("before,")
  core.msleep(1500)
  applet:send("after")
end)
core.register_service("big", "http", function(applet)
  applet:add_header("content-length", 200000)
  applet:start_response()
  for i = 1, 200 do applet:send(string.rep("x", 1000)) end
end)
""")
    write("h.cfg", config(port, "   http-request use-service lua.big if { path /big }\n"
                                "   http-request use-service lua.slow"))
    luaproxy("-f", "h.cfg", wait_port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        started = time.monotonic()
        first = b""
        while b"before," not in first:
            chunk = sock.recv(65536)
            assert chunk, first
            first += chunk
        assert time.monotonic() - started < 1.0
        assert b"after" not in first
    status, headers, body = get(port, "/big")
    assert (status, headers["content-length"], body) == (200, "200000", b"x" * 200000)


def plain_and_ruled(port: int, ruled: int, lines: str) -> str:
    """script.lua's services behind the same frontend twice: "plain" on *port*, and "ruled" on *ruled*, whose
    response rule never fires but sends every answer down the general path (what both send must match)."""
    frontends = "".join(f"""
frontend {name}
   bind 127.0.0.1:{at}
{lines}{rules}""" for name, at, rules in (
        ("plain", port, ""), ("ruled", ruled, "   http-response set-header x-never y if { always_false }\n")))
    return """
global
   lua-load script.lua
defaults
   mode http
   timeout client 5s
""" + frontends


def test_a_service_answered_whole_is_what_the_general_path_sends(write, luaproxy, port):
    """The whole response at a service's end goes out in one piece where nothing may change it; a frontend
    whose response rule never fires takes the general path: same bytes, same log line (%ST, %B, res.hdr)."""
    write("script.lua", """
core.register_service("sized", "http", function(applet)
  applet:set_status(201, "Made")
  applet:add_header("Content-Length", "5")
  applet:add_header("x-a", "1")
  applet:start_response()
  applet:send("he")
  applet:send("llo")
end)
core.register_service("chunks", "http", function(applet)
  applet:add_header("content-type", "text/plain")
  applet:start_response()
  applet:send("part1,")
end)
""")
    ruled = free_port()
    listener = SyslogListener()
    write("h.cfg", plain_and_ruled(port, ruled, f"""   log {listener.address} local0
   log-format "%ST %B %[res.hdr(content-type)] %[res.hdr(x-a)]"
   http-request use-service lua.sized if {{ path /sized }}
   http-request use-service lua.chunks
"""))
    luaproxy("-f", "h.cfg", wait_port=port)
    try:
        exchanges = []
        for target in (port, ruled):
            exchanges.append(http_exchange(target, b"GET /sized HTTP/1.1\r\nHost: a\r\n\r\n"
                                                   b"GET /c HTTP/1.1\r\nHost: a\r\n\r\n"
                                                   b"GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))
        assert exchanges[0] == exchanges[1]
        chunks = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n%s"
                  b"\r\n6\r\npart1,\r\n0\r\n\r\n")
        assert exchanges[0] == (b"HTTP/1.1 201 Made\r\nContent-Length: 5\r\nx-a: 1\r\n\r\nhello"
                                + chunks % b"" + chunks % b"Connection: close\r\n")
        assert wait_until(lambda: len(listener.datagrams) == 6)
        lines = sorted(datagram.decode().rpartition(": ")[2] for datagram in listener.datagrams)
        assert lines[0::2] == lines[1::2], lines
    finally:
        listener.close()


def test_a_service_head_made_again_checks_the_body_it_frames(write, luaproxy, port):
    """The same head from a service again is not checked again, but the body it frames still is: a body
    that no longer matches its Content-Length takes the general path, as a frontend with a response rule
    does every time; two services taking turns each get their own head."""
    write("script.lua", """
core.register_service("echo", "http", function(applet)
  applet:add_header("content-length", "3")
  applet:start_response()
  applet:send(applet.path:sub(2))
end)
core.register_service("other", "http", function(applet)
  applet:add_header("x-other", "yes")
  applet:start_response()
  applet:send("other")
end)
""")
    ruled = free_port()
    write("h.cfg", plain_and_ruled(port, ruled, """   http-request use-service lua.other if { path /other }
   http-request use-service lua.echo
"""))
    luaproxy("-f", "h.cfg", wait_port=port)
    requests = b"".join(b"GET /%s HTTP/1.1\r\nHost: a\r\n\r\n" % path for path in (b"abc", b"other", b"abc", b"xyz"))
    exchanges = [http_exchange(target, requests + b"GET /toolong HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                 for target in (port, ruled)]
    assert exchanges[0] == exchanges[1]
    echo = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n"
    other = b"HTTP/1.1 200 OK\r\nx-other: yes\r\ntransfer-encoding: chunked\r\n\r\n5\r\nother\r\n0\r\n\r\n"
    assert exchanges[0].startswith(echo + b"abc" + other + echo + b"abc" + echo + b"xyz")


def test_a_forced_yield_inside_send_loses_and_repeats_nothing(write, luaproxy, port):
    """A forced yield hands the pending output over, and one falls inside AppletHTTP's own methods too (the
    work between sends varies, so the yields, every 101 instructions, land all over send): the client still
    gets every byte once, in order."""
    write("script.lua", """
core.register_service("chunks", "http", function(applet)
  local x = 0
  applet:set_status(200)
  applet:add_header("x-count", 400)
  applet:start_response()
  for i = 1, 400 do
    for j = 1, i % 7 do x = x + j end
    applet:send(string.rep(string.char(65 + i % 26), i % 97) .. i .. ",")
  end
end)
""")
    write("h.cfg", config(port, "   http-request use-service lua.chunks").replace(
        "   lua-load script.lua\n", "   lua-load script.lua\n   tune.lua.forced-yield 101\n"))
    luaproxy("-f", "h.cfg", wait_port=port)
    expected = b"".join(bytes([65 + i % 26]) * (i % 97) + b"%d," % i for i in range(1, 401))
    status, headers, body = get(port, "/")
    assert (status, headers["x-count"], body) == (200, "400", expected)


def test_applet_arguments_read_as_python_reads_them_on_every_request(write, luaproxy, port):
    """AppletHTTP keeps the texts of the arguments it saw (integers, short strings): the second request reads
    them from there, and gets what the first got from Python's checks (12.0 is "12", 1.5 is "1.5")."""
    write("script.lua", """
core.register_service("args", "http", function(applet)
  applet:set_status(201.0)
  applet:add_header("x-int", 12)
  applet:add_header("x-float", 12.0)
  applet:add_header("x-frac", 1.5)
  applet:add_header("x-long", string.rep("v", 100))
  applet:start_response()
  applet:send(7)
  applet:send(7.0)
  applet:send("-")
  local ok, err = pcall(applet.add_header, applet, "x-nil", nil)
  applet:send(ok and "accepted" or err:match("bad argument #3 to 'add_header'") and "refused" or err)
end)
""")
    write("h.cfg", config(port, "   http-request use-service lua.args"))
    luaproxy("-f", "h.cfg", wait_port=port)
    for _ in range(2):
        status, headers, body = get(port, "/")
        assert (status, body) == (201, b"77-refused")
        assert (headers["x-int"], headers["x-float"], headers["x-frac"], headers["x-long"]) == ("12", "12", "1.5",
                                                                                                  "v" * 100)


def test_a_service_that_yields_keeps_its_output_when_another_starts_meanwhile(write, luaproxy, port):
    """A top-level coroutine.yield() lets other streams run; a service started then must not make the yielding
    one lose the output it held (no forced yield flushes it first: tune.lua.forced-yield is at its highest)."""
    write("script.lua", """
core.register_service("slow", "http", function(applet)
  applet:add_header("content-length", 6)
  applet:start_response()
  applet:send("before")
  for i = 1, 100000 do coroutine.yield() end
end)
core.register_service("quick", "http", function(applet)
  applet:add_header("content-length", 5)
  applet:start_response()
  applet:send("quick")
end)
""")
    cfg = config(port, "   http-request use-service lua.slow if { path /slow }\n   http-request use-service lua.quick")
    write("h.cfg", cfg.replace("lua-load script.lua\n", "lua-load script.lua\n   tune.lua.forced-yield 1000000\n"))
    luaproxy("-f", "h.cfg", wait_port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        time.sleep(0.1)
        assert get(port, "/quick")[2] == b"quick"
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\nbefore"), answer
