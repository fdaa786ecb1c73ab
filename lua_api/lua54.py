"""lupa's Lua 5.4, loaded so that Lua C modules (cjson, luaossl, LuaSocket) can link against it.

A C module built for a system Lua calls ``lua_settop`` and friends; they live in
lupa's extension, which Python loads with local symbols.  Re-opening the
already-loaded extension with RTLD_GLOBAL|RTLD_NOLOAD makes its symbols global,
whatever imported lupa first.  The module search paths are those of Debian's
``lua5.4`` (its multiarch C directory included) unless LUA_PATH/LUA_CPATH say
otherwise, as a system Lua would.
"""

from __future__ import annotations

import ctypes
import os

import lupa.lua54 as lupa

ctypes.CDLL(lupa.__file__, mode=os.RTLD_GLOBAL | os.RTLD_NOLOAD)

LUA_PATH = ";".join((
    "/usr/local/share/lua/5.4/?.lua", "/usr/local/share/lua/5.4/?/init.lua",
    "/usr/local/lib/lua/5.4/?.lua", "/usr/local/lib/lua/5.4/?/init.lua",
    "/usr/share/lua/5.4/?.lua", "/usr/share/lua/5.4/?/init.lua",
    "./?.lua", "./?/init.lua",
))
LUA_CPATH = ";".join((
    "/usr/local/lib/lua/5.4/?.so", "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so", "/usr/lib/lua/5.4/?.so",
    "/usr/local/lib/lua/5.4/loadall.so", "./?.so",
))


def default_paths() -> dict[str, str]:
    """package.path / package.cpath values to set: those the environment does not choose."""
    paths = {}
    if "LUA_PATH_5_4" not in os.environ and "LUA_PATH" not in os.environ:
        paths["path"] = LUA_PATH
    if "LUA_CPATH_5_4" not in os.environ and "LUA_CPATH" not in os.environ:
        paths["cpath"] = LUA_CPATH
    return paths
