"""The sample engine from the configuration: ACLs on TCP rules, maps, variables, Lua map updates."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.e2e.test_http import get
from tests.helpers import HttpBackend, read_all, talk


@pytest.fixture
def backend() -> Iterator[HttpBackend]:
    server = HttpBackend()
    yield server
    server.close()


def test_tcp_rules_with_acls_and_vars_across_actions(write, luaproxy, port):
    write("v.lua", """
        core.register_action("first", {"tcp-req"}, function(txn)
           txn:set_var("txn.greeting", "hello")
           txn:set_var("sess.count", 41)
        end)
        core.register_action("second", {"tcp-req"}, function(txn)
           txn.res:send(txn:get_var("txn.greeting") .. " " .. (txn:get_var("sess.count") + 1) .. " "
                        .. tostring(txn:get_var("txn.from_config")) .. "\\n")
           txn:done()
        end)
        """)
    write("v.cfg", f"""
        global
           lua-load v.lua
        defaults
           timeout client 5s
        listen p
           bind 127.0.0.1:{port}
           acl local src 127.0.0.0/8
           acl blocked src 10.0.0.0/8
           tcp-request content reject if blocked
           tcp-request content set-var(txn.from_config) str(cfg),upper if local
           tcp-request content lua.first
           tcp-request content lua.second unless {{ always_false }}
        """)
    luaproxy("-f", "v.cfg", wait_port=port)
    assert talk(port) == b"hello 42 CFG\n"


def test_inspect_delay_with_payload_acl(write, luaproxy, port, echo_server):
    write("p.cfg", f"""
        defaults
           timeout client 5s
           timeout server 5s
        listen p
           bind 127.0.0.1:{port}
           tcp-request inspect-delay 2s
           tcp-request content reject if {{ req.payload(0,4) -m str EVIL }}
           server echo 127.0.0.1:{echo_server.port}
        """)
    luaproxy("-f", "p.cfg", wait_port=port)
    assert talk(port, b"EVIL payload", shutdown=True) == b""
    assert talk(port, b"good payload", shutdown=True) == b"good payload"


def test_map_converters_and_map_files(write, luaproxy, port):
    write("hosts.map", "# host backend\nexample.com alpha\n.example.org beta\n")
    write("nets.map", "10.0.0.0/8 private\n127.0.0.0/8 loopback\n")
    write("ints.map", "4 four\n6 six\n")
    answer = ("%[req.hdr(host),lower,map(hosts.map,none)] %[req.hdr(host),map_dom(hosts.map,none)] "
              "%[src,map_ip(nets.map)] %[int(6),map_int(ints.map)]")
    write("m.cfg", f"""
        defaults
           mode http
           timeout client 5s
        frontend fe
           bind 127.0.0.1:{port}
           http-request return status 200 content-type text/plain lf-string "{answer}"
        """)
    luaproxy("-f", "m.cfg", wait_port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: EXAMPLE.com\r\nConnection: close\r\n\r\n")
        body = read_all(s).split(b"\r\n\r\n", 1)[1]
    assert body == b"alpha none loopback six"  # map_dom is case-sensitive, as in haproxy 2.6
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: www.example.org\r\nConnection: close\r\n\r\n")
        body = read_all(s).split(b"\r\n\r\n", 1)[1]
    assert body == b"none beta loopback six"


def test_lua_set_map_is_seen_by_the_next_lookup(write, luaproxy, port):
    write("flags.map", "feature off\n")
    write("f.lua", """
        flags = Map.new("flags.map", Map._str)
        core.register_action("toggle", {"http-req"}, function(txn)
           core.set_map("flags.map", "feature", "on")
           core.add_acl("allow.acl", "/open")
        end)
        core.register_fetches("flag", function(txn) return flags:slookup("feature") end)
        """)
    write("allow.acl", "/public\n")
    write("f.cfg", f"""
        global
           lua-load f.lua
        defaults
           mode http
           timeout client 5s
        frontend fe
           bind 127.0.0.1:{port}
           http-request lua.toggle if {{ path /toggle }}
           http-request return status 200 content-type text/plain string allowed if {{ path -f allow.acl }}
           http-request return status 200 content-type text/plain lf-string "%[lua.flag] %[str(feature),map(flags.map)]"
        """)
    luaproxy("-f", "f.cfg", wait_port=port)
    assert get(port, "/")[2] == b"off off"
    assert get(port, "/open")[2] != b"allowed"
    get(port, "/toggle")
    assert get(port, "/")[2] == b"on on"
    assert get(port, "/open")[2] == b"allowed"


def test_config_errors_from_the_sample_engine(write, tmp_path):
    import subprocess
    import sys

    write("bad.map", "not-an-ip value\n")
    write("e.cfg", """
        defaults
           mode http
        frontend fe
           bind 127.0.0.1:1
           acl a hdr(host) -m nope x
           http-request set-header X %[src,nosuchconv]
           http-request deny if undefined_acl
           http-request set-header Y %[src,map_ip(bad.map)]
        """)
    result = subprocess.run([sys.executable, "-m", "luaproxy.master", "-c", "-f", "e.cfg"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    err = result.stderr
    assert "[e.cfg:5]" in err and "nope" in err
    assert "[e.cfg:6]" in err and "nosuchconv" in err
    assert "[e.cfg:7]" in err and "undefined_acl" in err
    assert "[e.cfg:8]" in err and "'not-an-ip' is not a valid IPv4 or IPv6 address at line 1 of file 'bad.map'" in err


def test_buffered_request_body_feeds_json_query_and_is_still_forwarded(write, luaproxy, port):
    write("j.cfg", f"""
        defaults
           mode http
           timeout client 5s
           timeout server 5s
           option http-buffer-request
        frontend fe
           bind 127.0.0.1:{port} name main
           http-request set-var(txn.iss) req.body,json_query('$.iss')
           http-request set-var(txn.n) req.body,json_query('$.n','int'),add(1)
           http-request return status 200 content-type text/plain lf-string \
"%[var(txn.iss)] %[var(txn.n)] %[req.body_len] %[req.body_size] %[so_name]" if {{ path /json }}
           http-request return status 200 content-type text/plain lf-string "%[req.body_param(b)]"
        """)
    luaproxy("-f", "j.cfg", wait_port=port)
    body = b'{"iss":"kube.io","n":41}'
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        head = f"POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        s.sendall(head.encode() + body[:10])
        s.sendall(body[10:])  # the rules wait for the whole body
        reply = read_all(s, 5)
    assert reply.endswith(b"\r\n\r\nkube.io 42 24 24 main"), reply
    status, _, text = get(port, "/form", method="POST", body=b"a=1&b=two")
    assert (status, text) == (200, b"two")


def test_http_buffer_request_forwards_the_body_it_waited_for(write, luaproxy, port, backend):
    write("b.cfg", f"""
        defaults
           mode http
           timeout client 5s
           timeout server 5s
        frontend fe
           bind 127.0.0.1:{port}
           option http-buffer-request
           http-request deny if {{ req.body -m sub forbidden }}
           default_backend be
        backend be
           server s1 127.0.0.1:{backend.port}
        """)
    luaproxy("-f", "b.cfg", wait_port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /a HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        interim = s.recv(1024)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
        s.sendall(b"hello")
        reply = read_all(s, 5)
    assert b'"body": "hello"' in reply or b'"body":"hello"' in reply, reply
    status, _, _ = get(port, "/b", method="POST", body=b"a forbidden word")
    assert status == 403


def test_res_payload_and_last_rule_in_tcp_mode(write, luaproxy, port, echo_server):
    write("r.cfg", f"""
        defaults
           timeout client 5s
           timeout server 5s
        frontend fe
           bind 127.0.0.1:{port}
           tcp-request inspect-delay 1s
           tcp-request content accept if {{ req.len gt 0 }}
           default_backend be
        backend be
           tcp-response inspect-delay 1s
           tcp-response content reject if {{ res.payload(0,4) -m str EVIL }}
           tcp-response content set-var(txn.len) res.len
           tcp-response content reject unless {{ var(txn.len) -m int 7 }}
           server echo 127.0.0.1:{echo_server.port}
        """)
    luaproxy("-f", "r.cfg", wait_port=port)
    assert talk(port, b"EVIL it", shutdown=True) == b""
    assert talk(port, b"goodbye", shutdown=True) == b"goodbye"
    assert talk(port, b"too long", shutdown=True) == b""


def test_last_rule_names_the_rule_that_ended_the_rule_set(write, luaproxy, port):
    """As haproxy 2.6.12 answers the same file: 'lr=lr.cfg:9' for /allow, 'lr=:' for /other."""
    write("lr.cfg", f"""defaults
    mode http
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request set-var(txn.x) str(1)
    http-request deny if {{ path /deny }}
    http-request allow if {{ path /allow }}
    default_backend be
backend be
    http-request return status 200 content-type text/plain lf-string "lr=%[last_rule_file]:%[last_rule_line]"
""")
    luaproxy("-f", "lr.cfg", wait_port=port)
    assert get(port, "/allow")[2] == b"lr=lr.cfg:9"
    assert get(port, "/other")[2] == b"lr=:"
    assert get(port, "/deny")[0] == 403


def test_global_set_var_gives_every_worker_its_proc_variables(write, luaproxy, port, tmp_path):
    write("g.cfg", f"""
        global
           nbproc 2
           set-var proc.int12 int(12)
           set-var proc.int5 var(proc.str60,60),div(proc.int12)
           set-var proc.str1 str("this is")
           set-var-fmt proc.str "%[var(proc.str1)] a string"
        defaults
           mode http
           timeout client 5s
        frontend fe
           bind 127.0.0.1:{port}
           http-request set-var(proc.seen,ifexists) str(yes)
           http-request set-var(proc.never,ifnotexists) str(no)
           http-request set-var-fmt(txn.fmt) "%[var(proc.int12)]-%[var(proc.str1),upper]"
           http-request return status 200 content-type text/plain \
lf-string "%[var(proc.int5)] %[var(proc.str)] %[var(proc.seen)] %[var(proc.never)] %[var(txn.fmt)]"
        """)
    luaproxy("-f", "g.cfg", wait_port=port)
    for _ in range(4):
        assert get(port, "/")[2] == b"5 this is a string yes  12-THIS IS"
    import subprocess
    import sys

    write("bad.cfg", """
        global
           set-var proc.x str(a),nosuchconv
           set-var-fmt txn.y "z"
        """)
    result = subprocess.run([sys.executable, "-m", "luaproxy.master", "-c", "-f", "bad.cfg"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "[bad.cfg:2]" in result.stderr and "nosuchconv" in result.stderr
    assert "[bad.cfg:3]" in result.stderr and "only 'proc.' variables" in result.stderr


def test_tcp_request_connection_session_and_content_rules_in_http_mode(write, luaproxy, port):
    write("t.cfg", f"""
        defaults
           mode http
           timeout client 5s
        frontend fe
           bind 127.0.0.1:{port}
           tcp-request connection reject if {{ src 10.0.0.0/8 }}
           tcp-request session set-var(sess.n) int(5)
           tcp-request content set-var(txn.path) path
           tcp-request content reject if {{ path /drop }}
           http-request set-var(sess.n) var(sess.n),add(1)
           http-request return status 200 content-type text/plain lf-string "%[var(txn.path)] %[var(sess.n)]"
        """)
    luaproxy("-f", "t.cfg", wait_port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        replies = read_all(s, 5)
    assert replies.count(b"HTTP/1.1 200") == 2 and b"/a 6" in replies and b"/b 7" in replies, replies
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /drop HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_all(s, 5) == b""


def test_first_request_and_server_fetches(write, luaproxy, port):
    write("f.cfg", f"""
        defaults
           mode http
           timeout client 5s
        frontend fe
           bind 127.0.0.1:{port}
           http-request return status 200 content-type text/plain \
lf-string "%[http_first_req] %[srv_is_up(be/s1)] %[srv_is_up(be/s2)] %[srv_iweight(be/s1)] %[be_conn_free(be)]"
        backend be
           server s1 127.0.0.1:1 weight 10 maxconn 5
           server s2 127.0.0.1:2 disabled
        """)
    luaproxy("-f", "f.cfg", wait_port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        replies = read_all(s, 5)
    assert b"\r\n\r\n1 1 0 10 5HTTP" in replies and replies.endswith(b"\r\n\r\n0 1 0 10 5"), replies
