"""lua_api/bounded.lua: the wrapped string and table functions behave as Lua's own.

The Lua pattern matcher (used when a native call could run too long) is
compared with lupa's native one on random patterns and subjects; the wrappers
are compared on inputs long enough to take their slow paths; errors name the
script's line.  The time limits themselves are tested against a running worker
in tests/attacks/test_lua_c_calls.py.
"""

from __future__ import annotations

import random

import lupa.lua54 as lupa
import pytest

from luaproxy.lua_api.runtime import LuaRuntime

TOKENS = ["a", "b", "(", ")", ".", "%a", "%d", "%s", "%w", "%A", "[ab]", "[^a]", "[a-c]", "[]a]", "[%a_]",
          "%b()", "%f[%w]", "%f[%W]", "%1", "%2", "()", "*", "+", "-", "?", "^", "$", "%", "[", "x", "%%", "%.",
          "0"]
SUBJECT_CHARS = "aab(b)1 2xa_"
REPLACEMENTS = ["<%0>", "%1", "%%", "x%2y", "%"]

HARNESS = """
local find, match, gmatch, gsub = ...
local function pack(ok, ...) return {ok, select('#', ...), ...} end
local function show(t)
  local out = {tostring(t[1]), tostring(t[2])}
  for i = 3, t[2] + 2 do
    local v = t[i]
    if type(v) == 'string' then v = v:gsub('^[^:]*:%d+: ', '') end
    out[#out + 1] = type(v) .. ':' .. tostring(v)
  end
  return table.concat(out, '|')
end
local by_table = {a = 'A', b = false, ['('] = 7}
local function by_function(a, b)
  if a == 'b' then return nil end
  return '[' .. tostring(a) .. tostring(b) .. ']'
end
local function all(s, p)
  local out = {}
  for a, b in gmatch(s, p) do
    out[#out + 1] = tostring(a) .. ',' .. tostring(b)
    if #out > 40 then break end
  end
  return table.concat(out, ';')
end
return function(s, p, r)
  return table.concat({
    show(pack(pcall(find, s, p))), show(pack(pcall(find, s, p, 3))),
    show(pack(pcall(match, s, p))), show(pack(pcall(match, s, p, -4))),
    show(pack(pcall(all, s, p))),
    show(pack(pcall(gsub, s, p, r))), show(pack(pcall(gsub, s, p, r, 2))),
    show(pack(pcall(gsub, s, p, by_table))), show(pack(pcall(gsub, s, p, by_function))),
  }, '\\n')
end
"""


@pytest.fixture(scope="module")
def runtime() -> LuaRuntime:
    return LuaRuntime(max_memory=256 << 20)


def test_the_lua_matcher_agrees_with_the_native_one(runtime):
    native = lupa.LuaRuntime(encoding="latin-1")
    string = native.eval("string")
    expected = native.execute(HARNESS, string.find, string.match, string.gmatch, string.gsub)
    matcher = runtime.bounded.lua
    got = runtime.lua.execute(HARNESS, matcher.find, matcher.match, matcher.gmatch, matcher.gsub)
    rng = random.Random(12)
    for _ in range(3000):
        pattern = "".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 6)))
        subject = "".join(rng.choice(SUBJECT_CHARS) for _ in range(rng.randint(0, 10)))
        replacement = rng.choice(REPLACEMENTS)
        assert got(subject, pattern, replacement) == expected(subject, pattern, replacement), (subject, pattern)


@pytest.mark.parametrize("code", [
    # long subjects: the wrappers take their slow paths (Lua matcher, windows, pieces)
    'local s = ("ab  cd\\t"):rep(20000) return s:gsub("%s+", "_"):sub(1, 60), select(2, s:gsub("%s+", "_"))',
    'local s = ("key=value&"):rep(5000) local n = 0 for k, v in s:gmatch("(%w+)=(%w*)") do n = n + #k + #v end '
    'return n',
    'local s = ("x"):rep(100000) .. "needle" return s:find("ne+dle"), s:find("needle", 1, true), s:match("(n.-)$")',
    'return ("  padded  "):rep(300):match("^%s*(.-)%s*$"):sub(1, 20)',
    'return #string.rep("ab", 3000000, ","), string.rep("ab", 3000000, ","):sub(-5)',
    'local t = {} for i = 1, 200000 do t[i] = i % 7 end return #table.concat(t, ","), table.concat(t, "", 199990)',
    'local t = {} for i = 1, 200000 do t[i] = i end table.move(t, 1, 100000, 50001) return t[50001], t[150000], '
    't[200000]',
    'local t = {} for i = 1, 200000 do t[i] = i end table.insert(t, 2, "x") local r = table.remove(t, 1) '
    'return r, t[1], t[2], #t, t[200000]',
    'local t = {} for i = 1, 300000 do t[i] = (i * 7919) % 300007 end table.sort(t) local ok = true '
    'for i = 2, #t do ok = ok and t[i - 1] <= t[i] end return ok, #t',
    'local t = {} for i = 1, 300000 do t[i] = i end table.sort(t, function(a, b) return a > b end) '
    'return t[1], t[300000]',
    'local s = ("a\\0" .. "1\\n\\"\\\\\\r\\1\\127x"):rep(300000) '
    'return #string.format("<%q|%5.1f|%s>", s, 1.25, "x"), string.format("%q", s):sub(1048570, 1048600)',
    'local s = ("a"):rep(1048575) .. "\\0" .. "123" .. ("b"):rep(2000000) '
    'return string.format("%q", s):sub(1048570, 1048600), #string.format("%q", s)',
])
def test_slow_paths_give_the_native_results(runtime, code):
    native = lupa.LuaRuntime(encoding="latin-1", max_memory=256 << 20)
    assert runtime.lua.execute(code) == native.execute(code)


def test_errors_name_the_scripts_line(runtime):
    chunk = runtime.globals.load("\n\nlocal r = string.find('abc', '%') return r", "@user.lua")
    with pytest.raises(lupa.LuaError, match=r"user\.lua:3: malformed pattern \(ends with '%'\)"):
        chunk()
    chunk = runtime.globals.load("\nlocal r = string.find(('a'):rep(9000), 'a*a*%') return r", "@user.lua")
    with pytest.raises(lupa.LuaError, match=r"user\.lua:2: malformed pattern \(ends with '%'\)"):
        chunk()
    chunk = runtime.globals.load("\n\n\ntable.insert(nil, 1)", "@user.lua")
    with pytest.raises(lupa.LuaError, match=r"user\.lua:4: bad argument #1 to 'insert'"):
        chunk()
    chunk = runtime.globals.load("\nlocal s = string.format('%d', 'x') return s", "@user.lua")
    with pytest.raises(lupa.LuaError, match=r"user\.lua:2: bad argument #2 to 'format'"):
        chunk()
    chunk = runtime.globals.load("local t = setmetatable({}, {__index = function() error('mine') end})\n"
                                 "local s = table.concat(t, ',', 1, 2) return s", "@user.lua")
    with pytest.raises(lupa.LuaError, match=r"user\.lua:1: mine"):  # raised by user code: as it was
        chunk()


def test_cheap_calls_stay_native_and_degenerate_ones_end_at_once(runtime):
    assert runtime.lua.execute('return string.rep("", 1e15), string.rep("", 1e15, ""), string.rep("x", 0)') == (
        "", "", "")
    assert runtime.lua.execute('return ("hello world"):find("o w")') == (5, 7)
    assert runtime.lua.execute('return ("a,b"):gsub(",", ";")') == ("a;b", 1)
