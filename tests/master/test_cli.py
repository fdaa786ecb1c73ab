"""The command line: -c, -v, -vv, -cc and start-up errors, run as a real process."""

from __future__ import annotations

import subprocess

from tests.helpers import LUAPROXY


def run(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(LUAPROXY + list(args), capture_output=True, text=True, timeout=60, cwd=cwd)


def test_version_flags():
    assert run("-v").stdout.startswith("luaproxy version ")
    out = run("-vv").stdout
    assert "Built with Lua version : Lua 5.4" in out
    assert "+LUA" in out


def test_cc_feature():
    assert run("-cc", "feature(LUA)").returncode == 0
    assert run("-cc", "feature(NOPE)").returncode == 1
    assert run("-cc", "!feature(NOPE)").returncode == 0


def test_check_valid(write, tmp_path):
    write("h.lua", "function hello(txn) txn:done() end\n")
    write("ok.cfg", "global\n lua-load h.lua\nlisten p\n bind 127.0.0.1:1\n tcp-request content lua hello\n")
    result = run("-c", "-f", "ok.cfg", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "Configuration file is valid\n")


def test_check_missing_lua_function(write, tmp_path):
    write("h.lua", "function hello(txn) end\n")
    write("bad.cfg", "global\n lua-load h.lua\nlisten p\n bind 127.0.0.1:1\n tcp-request content lua helo\n")
    result = run("-c", "-f", "bad.cfg", cwd=tmp_path)
    assert result.returncode == 1
    assert "parsing [bad.cfg:5] : 'tcp-request content': Lua function 'helo' does not exist" in result.stderr


def test_check_unregistered_lua_action(write, tmp_path):
    write("h.lua", 'core.register_action("hello", {"http-req"}, function(txn) end)\n')
    write("bad.cfg", "global\n lua-load h.lua\nlisten p\n bind 127.0.0.1:1\n"
                     " tcp-request content lua.hello\n tcp-request content lua.hallo\n")
    result = run("-c", "-f", "bad.cfg", cwd=tmp_path)
    assert result.returncode == 1
    assert "[bad.cfg:5] : 'tcp-request content': Lua action 'lua.hello' is registered for http-req" in result.stderr
    assert "[bad.cfg:6] : 'tcp-request content': 'lua.hallo' is not a registered Lua action." in result.stderr
    assert "Did you mean 'hello' maybe ?" in result.stderr


def test_lua_syntax_error_names_file_and_line(write, tmp_path):
    write("broken.lua", "function f()\n  x = = 1\nend\n")
    write("bad.cfg", "global\n lua-load broken.lua\n")
    result = run("-c", "-f", "bad.cfg", cwd=tmp_path)
    assert result.returncode == 1
    assert "parsing [bad.cfg:2] : 'lua-load': failed to load Lua file 'broken.lua'" in result.stderr
    assert "broken.lua:2: unexpected symbol near '='" in result.stderr


def test_missing_lua_file(write, tmp_path):
    write("bad.cfg", "global\n lua-load nowhere.lua\n")
    result = run("-c", "-f", "bad.cfg", cwd=tmp_path)
    assert result.returncode == 1
    assert "[bad.cfg:2]" in result.stderr and "cannot read Lua file" in result.stderr


def test_lua_runtime_error_in_body(write, tmp_path):
    write("boom.lua", "local t = nil\nprint(t.x)\n")
    write("bad.cfg", "global\n lua-load boom.lua\n")
    result = run("-c", "-f", "bad.cfg", cwd=tmp_path)
    assert result.returncode == 1
    assert "boom.lua:2: attempt to index a nil value" in result.stderr


def test_register_outside_body_is_refused(write, tmp_path):
    write("late.lua", """
core.register_init(function()
  core.register_action("late", {"tcp-req"}, function() end)
end)
""")
    write("late.cfg", "global\n lua-load late.lua\nlisten p\n bind 127.0.0.1:1\n")
    result = run("-f", "late.cfg", cwd=tmp_path)
    assert result.returncode == 1
    assert "core.register_action: not available in the init context (allowed in: body)" in result.stderr
    assert "late.lua:2:" in result.stderr


def test_bind_conflict(write, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        write("c.cfg", f"listen p\n bind 127.0.0.1:{busy}\n")
        result = run("-f", "c.cfg", cwd=tmp_path)
    assert result.returncode == 1
    assert f"Starting proxy p: cannot bind socket (Address already in use) [127.0.0.1:{busy}]" in result.stderr


def test_no_config():
    result = run()
    assert result.returncode == 1 and "-f" in result.stderr


def test_check_lists_every_error_in_one_run(write, tmp_path):
    """-c goes on after each error: every section, stage and kind of mistake is reported at once."""
    write("many.cfg", """global
    nbprocs 2
    maxconn abc
    lua-load missing.lua
defaults
    mode http
    timeout client 5x
frontend fe
    bind 127.0.0.1:1
    http-request set-hedaer X 1
    http-request set-var(txn.x) req.hdrx(host)
    http-request set-header X %[src,lowercase]
    use_backend nowhere if { path_beg / }
    default_backend bk2
    option foo
backend bk
    balance roundrobinx
    server s1 127.0.0.1:80 chekc
    http-response lua.nope
""")
    result = run("-c", "-f", "many.cfg", cwd=tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "parsing [many.cfg:" in line]
    assert sorted(int(line.split("many.cfg:")[1].split("]")[0]) for line in lines) == [
        2, 3, 4, 7, 10, 11, 12, 13, 14, 15, 17, 18, 19]
    assert "Did you mean 'nbproc'" in result.stderr and "Did you mean 'set-header'" in result.stderr


def test_check_goes_on_inside_a_backend_and_names_each_line(write, tmp_path):
    """Errors found once a section is read (checks, servers, balance, errorfile, capture) name their own line,
    and one of them does not hide the others of the same backend."""
    write("many.cfg", """defaults
    mode http
frontend fe
    bind 127.0.0.1:1
    capture request header
    default_backend be
backend be
    option httpchk
    http-check expect bogus
    server s1 127.0.0.1:80 check inter x
    server s2 127.0.0.1:80 check rise y
    hash-type bogus
    errorfile 503 /nonexistent.http
backend tcp
    mode tcp
    http-request deny
    http-request return status 999
    monitor-uri
""")
    result = run("-c", "-f", "many.cfg", cwd=tmp_path)
    lines = [line.split("many.cfg:")[1] for line in result.stderr.splitlines() if "parsing [many.cfg:" in line]
    assert sorted(int(line.split("]")[0]) for line in lines) == [5, 9, 10, 11, 12, 13, 17, 18]
    assert "11] : server 's2': 'rise' expects a positive integer, got 'y'." in result.stderr
    assert "'http-request' rules ignored for proxy 'tcp' as they require HTTP mode" in result.stderr  # warnings too


def test_cc_expressions():
    assert run("-cc", "1 && !0 && !((streq(a,b) || !streq(a,a) && 1) || strneq(a,a))").returncode == 0
    assert run("-cc", "version_atleast(2.5-dev0) && !version_atleast(1024)").returncode == 0
    assert run("-cc", "").returncode == 1
    bad = run("-cc", "200rrr")
    assert bad.returncode == 2 and "unexpected character" in bad.stderr


def test_help_groups_flags_and_lists_signals_and_examples():
    out = run("-h").stdout
    for group in ("configuration:", "process mode:", "taking over from running processes:", "management:",
                  "information:", "signals (to the master):", "examples:"):
        assert f"\n{group}\n" in out
    assert "SIGUSR2, SIGHUP  reload" in out and "SIGUSR1          soft stop" in out
    assert "luaproxy -c -f " in out and "luaproxy -Ws -f " in out
