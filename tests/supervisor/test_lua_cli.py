"""core.register_cli: Lua commands on the management socket, with arguments, payload and help."""

from __future__ import annotations

from tests.helpers import wait_until
from tests.supervisor.conftest import cli

LUA = """
core.register_cli({"hello", "lua"}, "Say hello from Lua", function(applet, a1, a2, a3, a4)
   applet:send("hi " .. tostring(a1) .. "," .. tostring(a2) .. "," .. tostring(a3) .. "," .. tostring(a4) .. "\\n")
   local n = 0
   for _ in pairs(core.backends) do n = n + 1 end
   applet:send("backends " .. n .. "\\n")
end)
core.register_cli({"sum"}, "Sum the payload lines", function(applet)
   local total = 0
   while true do
      local line = applet:getline()
      if line == "" then break end
      total = total + (tonumber(line) or 0)
   end
   applet:send("total " .. total .. "\\n")
end)
core.register_cli({"broken"}, "Fails", function(applet) error("boom") end)
"""


def test_lua_cli_commands(write, luaproxy, port, tmp_path):
    write("c.lua", LUA)
    write("c.cfg", f"""
        global
           lua-load c.lua
           stats socket {tmp_path}/admin.sock level admin
        defaults
           mode http
        frontend f
           bind 127.0.0.1:{port}
           http-request return status 200
        backend b
           server s 127.0.0.1:80
        """)
    luaproxy("-f", "c.cfg", wait_port=port)
    sock = str(tmp_path / "admin.sock")
    assert wait_until(lambda: (tmp_path / "admin.sock").exists(), 10)
    assert cli(sock, "hello lua world\n") == "hi hello,lua,world,nil\nbackends 1\n\n"
    assert cli(sock, "sum <<\n1\n2\n39\n\n") == "total 42\n\n"
    assert cli(sock, "broken\n") == "Lua cli 'broken': c.lua:16: boom\n\n"
    assert "  Say hello from Lua\n" in cli(sock, "help\n")
