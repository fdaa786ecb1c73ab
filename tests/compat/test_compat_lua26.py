"""HAProxy 2.6's later Lua API (TXN replies, core helpers, Channel 2.2+, AppletTCP...) on both programs.

Each case runs the same configuration and script on luaproxy and on Debian's
haproxy 2.6 and compares what the client sees (HTTP responses normalised as in
test_compat_http: header order is Lua hash order on haproxy).
"""

from __future__ import annotations

import pytest

from tests.compat.harness import HAPROXY, Case, run_case
from tests.compat.test_compat_http import DEFAULTS, get, normalise, raw

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
core.register_action("both", {"http-req"}, function(txn) txn:set_var("txn.side", "req") end)
core.register_action("both", {"http-res"}, function(txn) txn.http:res_set_header("x-side", "res") end)
"""

LUA_DEFAULTS = """
    global
       lua-load case.lua
""" + DEFAULTS

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
]


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


