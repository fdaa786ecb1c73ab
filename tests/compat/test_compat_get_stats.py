"""Proxy/Server/Listener:get_stats() on both programs: the same keys, value types and deterministic values.

haproxy 2.6 fills each table from one static field array it never clears, so a second get_stats() call in a
process also returns the fields the previous call's object filled: each case makes a single call in a fresh
process.  Counters and rates (which haproxy and luaproxy count at different moments of the request that asks)
are compared by type only.
"""

from __future__ import annotations

import re
import socket
import time

import pytest

from tests.compat.harness import HAPROXY, Case, run_case
from tests.helpers import read_all

LUA = """
core.register_service("stats", "http", function(applet)
   local t = {OBJECT}:get_stats()
   local keys = {}
   for k in pairs(t) do keys[#keys + 1] = k end
   table.sort(keys)
   local out = {}
   for _, k in ipairs(keys) do
      out[#out + 1] = k .. "=" .. (math.type(t[k]) or type(t[k])) .. ":" .. tostring(t[k])
   end
   local body = table.concat(out, "\\n") .. "\\n"
   applet:set_status(200)
   applet:add_header("content-length", #body)
   applet:start_response()
   applet:send(body)
end)
"""

CONFIG = """
    global
       maxconn 1000
       stats socket ipv4@127.0.0.1:{port2} level admin
       lua-load case.lua
    defaults
       mode http
       timeout connect 2s
       timeout client 5s
       timeout server 5s
    frontend f
       bind 127.0.0.1:{port}
       http-request use-service lua.stats
    listen l
       mode tcp
       option socket-stats
       bind unix@l.sock
       bind unix@l2.sock name side
       server s1 127.0.0.1:{echo}
       server s2 127.0.0.1:{echo} backup weight 5 maxconn 7
    backend c
       server s3 127.0.0.1:9 check inter 100 fall 1
"""

DETERMINISTIC = {"pxname", "svname", "status", "weight", "uweight", "act", "bck", "iid", "sid", "type", "pid",
                 "mode", "algo", "addr", "slim", "lastsess", "dses", "wrew", "eint", "cache_lookups", "cache_hits",
                 "check_status", "check_desc", "last_chk", "check_rise", "check_fall", "check_health", "chkfail",
                 "chkdown"}


def fetch(port: int) -> bytes:
    time.sleep(0.5)  # the checked server's first checks (every 100 ms) are done
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: compat\r\nConnection: close\r\n\r\n")
        response = read_all(conn)
    body = response.split(b"\r\n\r\n", 1)[1].decode()
    kept = []
    for line in filter(None, body.splitlines()):
        name, value = line.split("=", 1)
        kind, _, text = value.partition(":")
        kept.append(f"{name}={kind}:{text if name in DETERMINISTIC else '*'}")
    return re.sub(r":\d+$", ":PORT", "\n".join(kept), flags=re.M).encode()


OBJECTS = {"frontend": "core.frontends.f", "listen": "core.proxies.l", "server": "core.backends.l.servers.s2",
           "checked_server": "core.backends.c.servers.s3", "listener": 'core.proxies.l.listeners["sock-1"]',
           "named_listener": 'core.proxies.l.listeners.side',
           "uncounted_listener": 'core.frontends.f.listeners["sock-1"]'}


@pytest.mark.parametrize("name", list(OBJECTS))
def test_same_as_haproxy(name, tmp_path, echo_server):
    case = Case(f"get_stats_{name}", CONFIG, fetch, LUA.replace("{OBJECT}", OBJECTS[name]))
    ours = run_case(case, "luaproxy", tmp_path, echo_server)
    assert (ours == b"") == (name == "uncounted_listener"), ours
    if HAPROXY is None:
        pytest.skip("Debian's haproxy is not installed: only luaproxy ran")
    assert ours.decode() == run_case(case, "haproxy", tmp_path, echo_server).decode()
