"""HAProxy 2.6's later Lua API (TXN replies, core helpers, Channel 2.2+, AppletTCP...) on both programs.

Each case runs the same configuration and script on luaproxy and on Debian's
haproxy 2.6 and compares what the client sees (HTTP responses normalised as in
test_compat_http: header order is Lua hash order on haproxy).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.compat.harness import HAPROXY, Case, run_case
from tests.compat.test_compat_http import DEFAULTS, get, raw
from tests.helpers import read_all

TXN_LUA = """
core.register_action("reply", {"http-req"}, function(txn)
   local r = txn:reply{status = 403, headers = {["x-a"] = {"1", "2"}}, body = "no"}
   r:add_header("Content-Type", "text/plain")
   r:add_header("x-b", "gone")
   r:del_header("x-b")
   txn:done(r)
end)
core.register_action("empty", {"http-req"}, function(txn) txn:done(txn:reply()) end)
core.register_action("plain", {"http-req"}, function(txn)
   txn:done{status = 404, reason = "Nope", body = "missing"}
end)
core.register_action("methods", {"http-req"}, function(txn)
   local r = txn:reply()
   r:set_status(418)
   r:set_body("teapot")
   r.headers["x-direct"] = {"yes"}
   txn:done(r)
end)
core.register_action("vars", {"http-req"}, function(txn)
   txn:set_var("txn.a", "set")
   txn:set_var("txn.b", "first")
   txn:unset_var("txn.b")
   txn:set_var("txn.never", "x", true)
   txn:set_var("txn.known", "updated", true)
   txn:set_priority_class(5000)
   txn:set_priority_offset(-10)
end)
core.register_action("results", {"http-req"}, function(txn)
   local r = {
      txn:set_var("txn.fresh", "1", true), txn:set_var("proc.undeclared", "1", true),
      txn:set_var("proc.named", "1", true), txn:set_var("bad.scope", "1"), txn:get_var("bad.scope"),
      txn:unset_var("txn.fresh"), txn:unset_var("txn.fresh"), txn:get_var("txn.fresh"),
      txn:set_var("bad.scope", "1", true), txn:unset_var("bad.scope"),
   }
   local parts = {}
   for i = 1, 10 do parts[i] = tostring(r[i]) end
   txn:set_var("txn.r", table.concat(parts, ","))
end)
core.register_action("both", {"http-req"}, function(txn) txn:set_var("txn.side", "req") end)
core.register_action("fields", {"http-req"}, function(txn)
   local r = txn:reply()
   local a = {tostring(r.status), tostring(r.reason), tostring(r.body), type(r.headers)}
   local s = txn:reply{status = 404, reason = "Nope", body = "b"}
   a[#a + 1] = tostring(s.status) .. "/" .. tostring(s.reason) .. "/" .. tostring(s.body)
   a[#a + 1] = tostring(r:set_status(700)) .. ":" .. r.status .. ":" .. tostring(r.reason)
   a[#a + 1] = tostring(r:set_status(201)) .. ":" .. r.status .. ":" .. tostring(r.reason)
   a[#a + 1] = tostring(r:set_status(202, "Fine")) .. ":" .. tostring(r.reason)
   a[#a + 1] = tostring(r:add_header("x-a", "1")) .. ":" .. tostring(r:del_header("x-a"))
   a[#a + 1] = tostring(r:set_body("zz"))
   txn:done{status = 200, body = table.concat(a, "|")}
end)
core.register_action("given_reason", {"http-req"}, function(txn)
   txn:done(txn:reply{status = 404, reason = "Nope", body = "b"})
end)
core.register_action("both", {"http-res"}, function(txn) txn.http:res_set_header("x-side", "res") end)
"""

LUA_DEFAULTS = """
    global
       lua-load case.lua
""" + DEFAULTS

CORE_LUA = """
local out = core.concat()
local function say(...)
   local parts = {}
   for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
   out:add(table.concat(parts, " ") .. "\\n")
end
say(core.http_date("Sun, 06 Nov 1994 08:49:37 GMT"), core.imf_date("Sun, 06 Nov 1994 08:49:37 GMT"))
say(core.rfc850_date("Sunday, 06-Nov-94 08:49:37 GMT"), core.asctime_date("Sun Nov  6 08:49:37 1994"))
say(core.http_date("garbage"), core.imf_date("Sunday, 06-Nov-94 08:49:37 GMT"), core.thread)
say(core.match_addr(core.parse_addr("127.0.0.1/32"), core.parse_addr("127.0.0.0/8")),
    core.match_addr(core.parse_addr("10.0.0.1"), core.parse_addr("127.0.0.0/8")),
    core.parse_addr("nonsense"), core.match_addr(core.parse_addr("::1"), core.parse_addr("::/0")),
    core.match_addr(core.parse_addr("::1"), core.parse_addr("127.0.0.1")))
say(table.concat(core.tokenize("This function is useful, for tokenizing an entry.", "., ", true), "|"))
say(#core.tokenize("a,,b,", ","), table.concat(core.tokenize("a,,b,", ",", false), "|"))
local st, re = Regex.new("needle (..) (...)", true)
say(st, re:exec("Looking for a needle in the haystack"), re:exec("x"))
local ok, list = re:match("Looking for a needle in the haystack")
say(ok, list[1], list[2], list[3], #list)
ok, list = re:match("nothing")
say(ok, type(list), #list)
say(select(2, Regex.new("NEEDLE", false)):exec("a needle"), (Regex.new("(", true)))
say(type(core.now().sec), type(core.now().usec), type(core.get_info().Uptime_sec), Map._regm, Map.regm)
local t = core.now()
say(math.abs(t.sec - os.time()) < 5, t.usec >= 0 and t.usec < 1000000)
local text = out:dump()
core.register_service("core", "http", function(applet)
   local info = {}  -- at run time (in the body context haproxy has no node name yet)
   for name, value in pairs(core.get_info()) do info[#info + 1] = name .. ":" .. type(value) end
   table.sort(info)
   local body = text .. table.concat(info, ",") .. "\\n"
   applet:set_status(200)
   applet:add_header("content-length", #body)
   applet:start_response()
   applet:send(body)
end)
core.register_fetches("early", function(txn)
   core.done("from done")
   return "not reached"
end)
core.register_action("yield", {"http-req"}, function(txn)
   local n = (txn:get_var("txn.n") or 0) + 1
   txn:set_var("txn.n", n)
   if n < 3 then
      act.wake_time(10)
      return act.YIELD
   end
end)
"""

CHANNEL_LUA = """
core.register_action("chan", {"tcp-req"}, function(txn)
   local c = txn.req
   local out = {}
   local function say(...)
      local t = {}
      for i = 1, select("#", ...) do t[#t + 1] = tostring((select(i, ...))) end
      out[#out + 1] = table.concat(t, " ")
   end
   say("first", c:data(0, 24))
   say("input", c:input(), c:output(), c:is_full(), c:is_resp(), txn.res:is_resp(), c:may_recv())
   say("data", c:data(), c:data(6), c:data(-5), c:data(6, 5), c:data(0, 0), c:data(3, 2))
   say("line", c:line(), c:line(12), c:line(-4), c:line(0, 3))
   say("errors", pcall(c.data, c, 100))
   say(pcall(c.data, c, 0, -5))
   say("insert", c:insert("[I]"), c:data())
   say(c:insert("<J>", 5), c:data())
   say(c:insert("<K>", -2), c:data())
   say("prepend", c:prepend("^"), c:data())
   say("remove", c:remove(0, 4), c:data())
   say(c:remove(-3, 2), c:data())
   say("set", c:set("XY", 2, 3), c:data())
   say(c:set("ZZ", -3), c:data())
   say(c:remove(5), c:data())
   say(c:set("all"), c:data())
   say(pcall(c.remove, c, 0, -1))
   txn.res:send(table.concat(out, "\\n") .. "\\n")
   txn:done()
end)
core.register_action("waitline", {"tcp-req"}, function(txn)
   local line = txn.req:line(0, -1)
   txn.res:send("line=" .. tostring(line))
   local rest = txn.req:data(#line, -1)
   txn.res:send("rest=" .. tostring(rest))
   txn:done()
end)
core.register_action("httpchan", {"http-req"}, function(txn)
   local ok, err = pcall(txn.req.data, txn.req)
   txn:set_var("txn.r", tostring(ok) .. ":" .. tostring(err) .. ":" .. tostring(txn.req:is_resp()))
end)
"""

SERVICE_LUA = """
core.register_service("lines", "tcp", function(applet)

  local n = 0
  applet:send("welcome " .. applet.sf:src() .. "\\n")
  while true do
    local line = applet:getline()
    if line == "" then break end
    local cmd = line:gsub("[\\r\\n]+$", "")
    n = n + 1
    if cmd == "QUIT" then applet:send("BYE " .. n .. "\\n") break end
    if cmd == "VAR" then
      applet:set_var("txn.x", "v1")
      applet:send("var " .. tostring(applet:get_var("txn.x")) .. "\\n")
      applet:unset_var("txn.x")
      applet:send("var " .. tostring(applet:get_var("txn.x")) .. "\\n")
    elseif cmd == "READ" then
      local data = applet:receive(5)
      applet:send("got [" .. data .. "]\\n")
    else
      applet:send("ECHO " .. cmd:upper() .. "\\n")
    end
  end
end)
core.register_service("all", "tcp", function(applet)
  local data = applet:receive()
  applet:send("all [" .. data .. "] " .. #applet:receive() .. " " .. #applet:getline() .. "\\n")
end)
core.register_service("vars", "http", function(applet)
   applet:set_var("txn.x", "v1")
   local body = tostring(applet:get_var("txn.x"))
   applet:unset_var("txn.x")
   body = body .. "," .. tostring(applet:get_var("txn.x")) .. "," .. tostring(applet:get_var("txn.cfg"))
   applet:set_status(200)
   applet:add_header("content-length", #body)
   applet:start_response()
   applet:send(body)
end)
"""

PROXY_LUA = """
local function sorted_names(t)
   local names = {}
   for name in pairs(t) do names[#names + 1] = name end
   table.sort(names)
   return table.concat(names, ",")
end
core.register_service("probe", "http", function(applet)
   local out = {}
   local function say(...)
      local t = {}
      for i = 1, select("#", ...) do t[#t + 1] = tostring((select(i, ...))) end
      out[#out + 1] = table.concat(t, " ")
   end
   say("proxies", sorted_names(core.proxies), sorted_names(core.backends), sorted_names(core.frontends))
   local b = core.backends.b
   say("b", b.name, type(b.uuid), b:get_cap(), b:get_mode(), core.frontends.f:get_cap())
   say("l", core.proxies.l:get_cap(), core.proxies.l:get_mode(), sorted_names(core.frontends.f.listeners))
   local s1 = b.servers.s1
   say("s1", s1.name, s1.puid, type(s1.puid), s1:get_addr(), s1:get_weight(), s1:get_maxconn(), s1:is_draining())
   say("weight", s1:set_weight("50"), s1:get_weight(), s1:set_weight("bad"), s1:set_weight("300"))
   say("relative", s1:set_weight("50%"), s1:get_weight())
   say("maxconn", s1:set_maxconn("20"), s1:get_maxconn())
   say("addr", s1:set_addr("127.0.0.2", 8081), s1:get_addr(), s1:set_addr("127.0.0.3"), s1:get_addr())
   say("drain", s1:set_drain(), s1:is_draining(), s1:get_stats().status)
   say("maint", s1:set_maint(), s1:is_draining(), s1:get_stats().status)
   local st = s1:get_stats()
   say("ready", s1:set_ready(), s1:get_stats().status, st.weight, st.pxname, st.svname)
   st = b:get_stats()
   say("bstats", st.pxname, st.svname, st.status, st.act, st.bck)
   st = core.frontends.f:get_stats()
   -- (without option socket-stats haproxy 2.6's listener table holds whatever the previous call left)
   say("fstats", st.pxname, st.svname, st.status, type(core.frontends.f.listeners["sock-1"]:get_stats()))
   local body = table.concat(out, "\\n") .. "\\n"
   applet:set_status(200)
   applet:add_header("content-length", #body)
   applet:start_response()
   applet:send(body)
end)
"""

AUTH_LUA = """
-- An auth subrequest, as published auth-request scripts do it: ask a service, pass or refuse.
core.register_action("auth_request", {"http-req"}, function(txn, backend_url)
   local hc = core.httpclient()
   local response = hc:get{
      url = backend_url .. "?user=" .. txn.sf:req_hdr("x-user"),
      headers = {["x-token"] = {txn.sf:req_hdr("x-token")}},
      timeout = 2000,
   }
   if response == nil or response.status ~= 200 then
      txn:done{status = 403, body = "denied: " .. (response and response.body or "no answer")}
   end
   txn.http:req_set_header("x-auth-user", response.headers["x-user"][0])
end, 1)
"""

FILTER_LUA = """
Trace = {}
Trace.id = "Lua trace filter"
Trace.flags = filter.FLT_CFG_FL_HTX
Trace.__index = Trace
function Trace:new()
   local trace = {}
   setmetatable(trace, Trace)
   trace.events = {}
   trace.arg = self.arg
   return trace
end
function Trace:start_analyze(txn, chn)
   self.events[#self.events + 1] = "start-" .. (chn:is_resp() and "res" or "req")
end
function Trace:end_analyze(txn, chn)
   self.events[#self.events + 1] = "end-" .. (chn:is_resp() and "res" or "req")
end
function Trace:http_headers(txn, http_msg)
   local st = http_msg:get_stline()
   if http_msg.channel:is_resp() then
      self.events[#self.events + 1] = "res:" .. st.version .. " " .. st.code .. " " .. st.reason
      http_msg:set_header("x-filter-events", table.concat(self.events, ","))
      http_msg:set_header("x-filter-arg", self.arg)
      http_msg:del_header("x-drop")
      http_msg:add_header("x-req-seen", tostring(txn.http_req ~= nil) .. "/" .. tostring(txn.http_res ~= nil))
   else
      self.events[#self.events + 1] = "req:" .. st.method .. " " .. st.uri .. " " .. st.version
      http_msg:set_header("x-from-filter", "yes")
      http_msg:set_path("/rewritten")
   end
   return filter.CONTINUE
end
core.register_filter("trace", Trace, function(trace, args)
   trace.arg = args[1]
   return trace
end)
"""

CORS_LUA = """
-- A CORS responder in the style of the published haproxy-lua-cors: answer preflights,
-- remember the Origin, add the headers to the response.
local allowed = {["https://app.example.com"] = true, ["https://admin.example.com"] = true}

core.register_action("cors_request", {"http-req"}, function(txn, methods)
   local origin = txn.sf:req_hdr("origin")
   txn:set_var("txn.cors_origin", origin)
   if txn.sf:method() == "OPTIONS" and origin ~= "" then
      local reply = txn:reply()
      reply:set_status(204, "No Content")
      if allowed[origin] then
         reply:add_header("access-control-allow-origin", origin)
         reply:add_header("access-control-allow-methods", methods)
         reply:add_header("access-control-max-age", "600")
      end
      reply:add_header("vary", "Origin")
      txn:done(reply)
   end
end, 1)

core.register_action("cors_response", {"http-res"}, function(txn)
   local origin = txn:get_var("txn.cors_origin")
   if origin and allowed[origin] then
      txn.http:res_set_header("access-control-allow-origin", origin)
      txn.http:res_add_header("vary", "Origin")
   end
end)
"""

GATE_LUA = """
-- A SOCKS-like gate: the client names its target on a first line, the action reads it
-- from txn.req, answers, strips it and lets the rest through to the chosen backend.
core.register_action("gate", {"tcp-req"}, function(txn)
   local line = txn.req:line(0, -1)
   local target = line and line:match("^CONNECT (%w+)\\r?\\n$")
   if target == nil then
      txn.res:send("ERR bad request\\n")
      txn:done()
   end
   txn.req:remove(0, #line)
   txn:set_var("txn.target", target)
   txn.res:send("OK " .. target .. " " .. txn.req:input() .. "\\n")
end)
"""

SERVICE_RESPONSE_LUA = """
core.register_action("count", {"http-res"}, function(txn)
   local seen = (txn:get_priv() or 0) + 1
   txn.http:res_set_status(200 + seen)
   txn.http:res_set_header("x-seen", seen)
   txn:set_priv(seen)
end)
core.register_service("empty", "http", function(applet)
   applet:set_status(200)
   applet:start_response()
end)
"""

TCP_DEFAULTS = """
    global
       lua-load case.lua
    defaults
       mode tcp
       timeout connect 2s
       timeout client 3s
       timeout server 3s
"""


def in_pieces(*pieces: bytes) -> object:
    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            for piece in pieces:
                s.sendall(piece)
                time.sleep(0.2)
            s.shutdown(socket.SHUT_WR)
            return read_all(s, 3.0)
    return client


CASES = [
    Case("txn_reply", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request lua.reply
        """, get("/"), TXN_LUA),
    Case("txn_done_empty_reply", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request lua.empty
        """, get("/"), TXN_LUA),
    Case("reply_fields_and_method_results", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request lua.fields
        """, get("/"), TXN_LUA),
    Case("reply_reason_comes_from_the_status", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request lua.given_reason
        """, get("/"), TXN_LUA),
    Case("txn_done_plain_table", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request lua.plain
        """, get("/"), TXN_LUA),
    Case("reply_methods_keepalive", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request lua.methods
        """, raw(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
         TXN_LUA),
    Case("set_var_ifexist_unset_var", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request set-var(txn.known) str(before) if FALSE
           http-request lua.vars
           http-request return status 200 hdr v "%[var(txn.a)],%[var(txn.b)],%[var(txn.never)],%[var(txn.known)]"
        """, get("/"), TXN_LUA),
    Case("set_var_results", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request set-header x-named %[var(proc.named)]
           http-request lua.results
           http-request return status 200 hdr r "%[var(txn.r)]"
        """, get("/"), TXN_LUA),
    Case("one_action_name_two_kinds", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request lua.both
           http-response lua.both
           http-response set-header x-req %[var(txn.side)]
           default_backend b
        backend b
           server s 127.0.0.1:{port2}
        listen back
           bind 127.0.0.1:{port2}
           http-request return status 200 content-type text/plain string ok
        """, get("/"), TXN_LUA),
    Case("core_helpers_regex_concat", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request use-service lua.core
        """, get("/"), CORE_LUA),
    Case("core_done_in_a_fetch", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request return status 200 hdr v "%[lua.early]"
        """, get("/"), CORE_LUA),
    Case("channel_offsets_and_lengths", TCP_DEFAULTS + """
        listen f
           bind 127.0.0.1:{port}
           tcp-request inspect-delay 2s
           tcp-request content lua.chan
        """, in_pieces(b"hello world\n", b"second line\n"), CHANNEL_LUA),
    Case("channel_line_waits_for_more", TCP_DEFAULTS + """
        listen f
           bind 127.0.0.1:{port}
           tcp-request inspect-delay 2s
           tcp-request content lua.waitline
        """, in_pieces(b"par", b"tial\nmore", b" data"), CHANNEL_LUA),
    Case("channel_refused_in_http_mode", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request lua.httpchan
           http-request return status 200 hdr r "%[var(txn.r)]"
        """, get("/"), CHANNEL_LUA),
    Case("tcp_service_line_protocol", TCP_DEFAULTS + """
        listen f
           bind 127.0.0.1:{port}
           tcp-request content use-service lua.lines
        """, in_pieces(b"hello\n", b"VAR\nREAD", b"abcdefgh\n", b"QUIT\n"), SERVICE_LUA),
    Case("tcp_service_partial_line_at_close", TCP_DEFAULTS + """
        listen f
           bind 127.0.0.1:{port}
           tcp-request content use-service lua.lines
        """, in_pieces(b"partial"), SERVICE_LUA),
    Case("tcp_service_receive_all", TCP_DEFAULTS + """
        listen f
           bind 127.0.0.1:{port}
           tcp-request content use-service lua.all
        """, in_pieces(b"some ", b"data"), SERVICE_LUA),
    Case("applet_http_vars", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request set-var(txn.cfg) str(from-config)
           http-request use-service lua.vars
        """, get("/"), SERVICE_LUA),
    Case("proxy_server_listener", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request use-service lua.probe
        backend b
           server s1 127.0.0.1:8080 weight 10
           server s2 127.0.0.1:8081 backup
        listen l
           mode tcp
           bind 127.0.0.1:{port2}
           server x 127.0.0.1:9
        """, get("/"), PROXY_LUA),
    Case("auth_subrequest_allowed", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request lua.auth_request http://127.0.0.1:{port2}/check
           http-request return status 200 content-type text/plain lf-string "hello %[req.hdr(x-auth-user)]"
        listen auth
           bind 127.0.0.1:{port2}
           http-request return status 200 content-type text/plain string ok hdr x-user %[url_param(user)] """
         """if {{ url_param(user) alice }} {{ req.hdr(x-token) s3cret }}
           http-request return status 401 content-type text/plain string nope
        """, get("/", "x-user: alice\r\nx-token: s3cret\r\n"), AUTH_LUA),
    Case("auth_subrequest_refused", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request lua.auth_request http://127.0.0.1:{port2}/check
           http-request return status 200 content-type text/plain lf-string "hello %[req.hdr(x-auth-user)]"
        listen auth
           bind 127.0.0.1:{port2}
           http-request return status 401 content-type text/plain string nope
        """, get("/", "x-user: bob\r\nx-token: bad\r\n"), AUTH_LUA),
    Case("lua_filter_headers", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           filter lua.trace first-arg
           default_backend b
        backend b
           server s 127.0.0.1:{port2}
        listen back
           bind 127.0.0.1:{port2}
           http-request return status 200 content-type text/plain lf-string "%[path] %[req.hdr(x-from-filter)]" """
         """hdr x-drop 1
        """, get("/orig?x=1"), FILTER_LUA),
    Case("cors_preflight", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-request lua.cors_request "GET, POST, PUT"
           http-response lua.cors_response
           default_backend b
        backend b
           server s 127.0.0.1:{port2}
        listen back
           bind 127.0.0.1:{port2}
           http-request return status 200 content-type text/plain string data
        """, raw(b"OPTIONS /api HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n\r\n"
                 b"OPTIONS /api HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example.com\r\n\r\n"
                 b"GET /api HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\nConnection: close\r\n\r\n"),
         CORS_LUA),
    Case("tcp_gate_reads_the_first_line", TCP_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           tcp-request inspect-delay 2s
           tcp-request content lua.gate
           use_backend echo if {{ var(txn.target) -m str echo }}
        backend echo
           server e 127.0.0.1:{echo}
        """, in_pieces(b"CONNECT echo\r\nhel", b"lo through"), GATE_LUA),
    Case("tcp_gate_refuses", TCP_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           tcp-request inspect-delay 2s
           tcp-request content lua.gate
           use_backend echo if {{ var(txn.target) -m str echo }}
        backend echo
           server e 127.0.0.1:{echo}
        """, in_pieces(b"HELLO\n"), GATE_LUA),
    Case("http_response_rules_on_a_service", LUA_DEFAULTS + """
        frontend f
           bind 127.0.0.1:{port}
           http-response lua.count
           default_backend b
        backend b
           http-request use-service lua.empty
        """, raw(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
         SERVICE_RESPONSE_LUA),
]


EXAMPLES = Path(__file__).resolve().parents[2] / "ops" / "examples"


def _worked_example() -> tuple[str, str]:
    """The README's worked example (ops/examples/worked_example.*) as a case's config and script."""
    config = (EXAMPLES / "worked_example.cfg").read_text().replace("{", "{{").replace("}", "}}")
    config = config.replace("worked_example.lua", "case.lua").replace("127.0.0.1:10002", "127.0.0.1:{port}")
    return config, (EXAMPLES / "worked_example.lua").read_text()


WORKED_CONFIG, WORKED_LUA = _worked_example()
CASES += [
    Case(f"readme_worked_example_{n}", WORKED_CONFIG, get(path, headers), WORKED_LUA)
    for n, (path, headers) in enumerate([
        ("/whoami", "Accept-Language: fr-CA,fr\r\nX-Api-Key: 4111111111111111\r\n"),
        ("/", "X-Api-Key: abcdefgh\r\n"),
        ("/", ""),
    ])
]


def _dechunk(data: bytes) -> tuple[bytes, bytes]:
    """(the body of a chunked message at the start of *data*, what follows it)."""
    body = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            return body, data.partition(b"\r\n")[2]
        body, data = body + data[:size], data[size + 2:]


def normalise(data: bytes) -> list[tuple[str, list[tuple[str, str]], bytes]]:
    """Responses as (status line, sorted lower-cased headers, body); 204 and 304 have no body."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = [(n.strip().lower(), v.strip()) for n, _, v in (line.partition(":") for line in lines[1:])]
        bodiless = lines[0].split()[1] in ("204", "304")
        if dict(headers).get("transfer-encoding") == "chunked":
            body, data = _dechunk(rest)
        else:
            length = 0 if bodiless else int(dict(headers).get("content-length", len(rest)))
            body, data = rest[:length], rest[length:]
        out.append((lines[0], sorted(h for h in headers if h[0] != "date"), body))
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_as_haproxy(case, tmp_path, echo_server):
    ours = run_case(case, "luaproxy", tmp_path, echo_server)
    assert ours, "luaproxy sent nothing"
    if HAPROXY is None:
        pytest.skip("Debian's haproxy is not installed: only luaproxy ran")
    reference = run_case(case, "haproxy", tmp_path, echo_server)
    if ours.startswith(b"HTTP/"):
        assert normalise(ours) == normalise(reference)
    else:
        assert ours == reference


