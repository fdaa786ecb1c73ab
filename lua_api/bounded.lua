-- Loaded into each luaproxy Lua state right after the prelude.
--
-- A few C functions of Lua's standard library run for as long as their
-- arguments say without reaching the count hook that holds a script to its
-- time budget and lets other transactions run: a pattern that backtracks
-- (string.find(("a"):rep(1e5), "a-a-b")), string.rep of an empty string a
-- billion times, table.concat/move/insert/remove over a huge range (a __len or
-- an __index metamethod makes that cost no memory), table.sort of millions of
-- elements.  maxmem cannot stop them and the worker would stall until the
-- watchdog killed it.
--
-- Each such entry is replaced by a wrapper that calls the native function when
-- its worst case is cheap (nearly always), and otherwise does the same work
-- in Lua (a pattern matcher with the native one's semantics and errors) or in
-- native pieces of bounded size, so that the hook keeps firing: the script
-- meets its time limit with an error at its own line and the worker serves on.
local string, table = string, table
local byte, sub, find, match, gmatch, gsub, rep, char, format = string.byte, string.sub, string.find,
  string.match, string.gmatch, string.gsub, string.rep, string.char, string.format
local concat, move, insert, remove, sort = table.concat, table.move, table.insert, table.remove, table.sort
local tointeger, maxinteger = math.tointeger, math.maxinteger
local type, select, error, pcall, tostring, tonumber = type, select, error, pcall, tostring, tonumber
local setmetatable, getmetatable, unpack = setmetatable, getmetatable, table.unpack
local gethook = debug.gethook

local STEPS = 4000000
-- Worst-case matcher steps a native pattern call may take (about 40 ms).
local CHUNK = 65536
-- Elements a native table function handles in one call.
local REP_PIECE = 1 << 20
-- Bytes string.rep builds in one native call.
local SORT_NATIVE = 1 << 17
-- Elements table.sort leaves to the native sort.
local MAXCCALLS = 200
-- The native matcher's recursion limit ("pattern too complex").
local MAXCAPTURES = 32
local CAP_UNFINISHED, CAP_POSITION = -1, -2
local ESC, SPECIALS = 37, "[%^%$%*%+%?%.%(%[%%%-]"

local bounded = {}

-- An integer argument as luaL_checkinteger takes it (numbers and numeric strings), else nil.
local function toint(v)
  local n = tointeger(v)
  if n == nil and type(v) == "string" then n = tointeger(tonumber(v)) end
  return n
end

-- A string argument as luaL_checklstring takes it, else nil.
local function tostr(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
  return nil
end

-- Lua 5.4's posrelatI: a start position made absolute (1-based).
local function start_index(init, len)
  if init > 0 then return init end
  if init == 0 or init < -len then return 1 end
  return len + init + 1
end

-- Errors of the Lua matcher: re-raised at the caller's line by the wrappers.
local PatternError = {}

local function fail(message)
  error(setmetatable({message}, PatternError), 0)
end

-- After each native piece: run the running thread's count hook now (it checks the time
-- budget and, in a coroutine, lets other transactions run), since a few Lua
-- instructions between heavy C calls would leave it thousands of pieces apart.
local function checkpoint()
  local hook = gethook()
  if hook then hook() end
end

local function finish(ok, ...)
  if ok then return ... end
  local err = ...
  if getmetatable(err) == PatternError then error(err[1], 2) end
  error(err, 0)
end

---------------------------------------------------------------------------
-- Cost of a pattern: the native matcher's worst case grows as the number of
-- ways to split the subject between the items that may backtrack.

local analysed, analysed_count = {}, 0
local MAX_CACHED = 256
-- Longest pattern kept in the cache (4096 patterns at most, so it holds at most 1 MB).

-- Index after the set that starts at i ('['), or past the end when malformed.
local function skip_set(p, i, m)
  i = i + 1
  if byte(p, i) == 94 then i = i + 1 end
  repeat
    if i > m then return m + 1 end
    local c = byte(p, i)
    i = i + 1
    if c == ESC and i <= m then i = i + 1 end
  until byte(p, i) == 93
  return i + 1
end

-- Only closing parentheses from i on: a quantifier there never backtracks.
local function at_tail(p, i, m)
  while i <= m do
    if byte(p, i) ~= 41 then return false end
    i = i + 1
  end
  return true
end

-- The largest subject length whose worst case stays under STEPS, when e items
-- may backtrack (one more when every start position is tried).
local function max_subject(k, q, m, unanchored)
  local e = k + (unanchored and 1 or 0)
  local base = (m + 1) * 2.0 ^ q
  if base > STEPS then return -1 end
  if e == 0 then return math.huge end
  local lo, hi = 0, STEPS
  while lo < hi do
    local mid = (lo + hi + 1) // 2
    local steps = base
    for i = 1, e do
      steps = steps * (mid + i) / i
      if steps > STEPS then break end
    end
    if steps <= STEPS then lo = mid else hi = mid - 1 end
  end
  return lo
end

-- What the wrappers need to know of a pattern, computed once: the longest
-- subject each native use may take (find/match/gsub, gmatch, plain find).
local function analyse(p)
  local m = #p
  local anchored = byte(p, 1) == 94
  local i = anchored and 2 or 1
  local k, q = 0, 0
  while i <= m do
    local c = byte(p, i)
    local item_end
    if c == 40 or c == 41 then
      i = i + 1
    elseif c == ESC then
      local d = byte(p, i + 1)
      if d == 98 then
        k, i = k + 1, i + 4
      elseif d == 102 then
        i = skip_set(p, i + 2, m)
      elseif d and d >= 48 and d <= 57 then
        k, i = k + 1, i + 2
      else
        item_end = i + 2
      end
    elseif c == 91 then
      item_end = skip_set(p, i, m)
    else
      item_end = i + 1
    end
    if item_end then
      local quantifier = byte(p, item_end)
      if quantifier == 42 or quantifier == 43 or quantifier == 45 or quantifier == 63 then
        if not at_tail(p, item_end + 1, m) then
          if quantifier == 63 then q = q + 1 else k = k + 1 end
        end
        i = item_end + 1
      else
        i = item_end
      end
    end
  end
  local a = {
    anchored = anchored,
    special = find(p, SPECIALS) ~= nil,
    find = max_subject(k, q, m, not anchored),
    scan = max_subject(k, q, m, true),
    plain = m == 0 and math.huge or STEPS // (m + 1),
  }
  if m <= MAX_CACHED then  -- a long pattern is analysed at each call, in the time its matching takes anyway
    if analysed_count >= 4096 then analysed, analysed_count = {}, 0 end
    analysed[p], analysed_count = a, analysed_count + 1
  end
  return a
end

---------------------------------------------------------------------------
-- The Lua matcher: the native one's algorithm, item by item, with its errors.

local CLASSES = {}
for _, letter in ipairs({"a", "c", "d", "g", "l", "p", "s", "u", "w", "x"}) do
  local members = {}
  for c = 0, 255 do members[c] = find(char(c), "^%" .. letter) ~= nil end
  CLASSES[byte(letter)] = members
end

local function match_class(c, cl)
  local lower = (cl >= 65 and cl <= 90) and cl + 32 or cl
  local members = CLASSES[lower]
  if members == nil then return cl == c end
  if lower ~= cl then return not members[c] end
  return members[c]
end

local function class_end(ms, p)
  local pat, plen = ms.pat, ms.plen
  local c = byte(pat, p)
  p = p + 1
  if c == ESC then
    if p > plen then fail("malformed pattern (ends with '%')") end
    return p + 1
  elseif c == 91 then
    if byte(pat, p) == 94 then p = p + 1 end
    repeat
      if p > plen then fail("malformed pattern (missing ']')") end
      local cc = byte(pat, p)
      p = p + 1
      if cc == ESC and p <= plen then p = p + 1 end
    until byte(pat, p) == 93
    return p + 1
  end
  return p
end

-- c against the set from p ('[') to ec (its ']').
local function match_set(ms, c, p, ec)
  local pat = ms.pat
  local sig = true
  if byte(pat, p + 1) == 94 then
    sig = false
    p = p + 1
  end
  p = p + 1
  while p < ec do
    local pc = byte(pat, p)
    if pc == ESC then
      p = p + 1
      if match_class(c, byte(pat, p)) then return sig end
    elseif byte(pat, p + 1) == 45 and p + 2 < ec then
      if pc <= c and c <= byte(pat, p + 2) then return sig end
      p = p + 2
    elseif pc == c then
      return sig
    end
    p = p + 1
  end
  return not sig
end

local function single_match(ms, s, p, ep)
  if s > ms.slen then return false end
  local c = byte(ms.src, s)
  local pc = byte(ms.pat, p)
  if pc == 46 then return true end
  if pc == ESC then return match_class(c, byte(ms.pat, p + 1)) end
  if pc == 91 then return match_set(ms, c, p, ep - 1) end
  return pc == c
end

local do_match

local function max_expand(ms, s, p, ep)
  local i = 0
  while single_match(ms, s + i, p, ep) do i = i + 1 end
  while i >= 0 do
    local res = do_match(ms, s + i, ep + 1)
    if res then return res end
    i = i - 1
  end
  return nil
end

local function min_expand(ms, s, p, ep)
  while true do
    local res = do_match(ms, s, ep + 1)
    if res then return res end
    if not single_match(ms, s, p, ep) then return nil end
    s = s + 1
  end
end

local function start_capture(ms, s, p, what)
  local level = ms.level + 1
  if level > MAXCAPTURES then fail("too many captures") end
  ms.cinit[level], ms.clen[level], ms.level = s, what, level
  local res = do_match(ms, s, p)
  if res == nil then ms.level = ms.level - 1 end
  return res
end

local function end_capture(ms, s, p)
  local l
  for level = ms.level, 1, -1 do
    if ms.clen[level] == CAP_UNFINISHED then
      l = level
      break
    end
  end
  if l == nil then fail("invalid pattern capture") end
  ms.clen[l] = s - ms.cinit[l]
  local res = do_match(ms, s, p)
  if res == nil then ms.clen[l] = CAP_UNFINISHED end
  return res
end

local function match_balance(ms, s, p)
  if p + 1 > ms.plen then fail("malformed pattern (missing arguments to '%b')") end
  local src, slen = ms.src, ms.slen
  local b, e = byte(ms.pat, p, p + 1)
  if s > slen or byte(src, s) ~= b then return nil end
  local depth = 1
  s = s + 1
  while s <= slen do
    local c = byte(src, s)
    if c == e then
      depth = depth - 1
      if depth == 0 then return s + 1 end
    elseif c == b then
      depth = depth + 1
    end
    s = s + 1
  end
  return nil
end

local function match_capture(ms, s, digit)
  local l = digit - 48
  if l < 1 or l > ms.level or ms.clen[l] == CAP_UNFINISHED then
    fail(("invalid capture index %%%d"):format(l))
  end
  local len = ms.clen[l]
  if len >= 0 and ms.slen - s + 1 >= len then
    local init = ms.cinit[l]
    if sub(ms.src, init, init + len - 1) == sub(ms.src, s, s + len - 1) then return s + len end
  end
  return nil
end

-- Index after the match of pattern item p onwards at subject index s, or nil.
do_match = function(ms, s, p)
  if ms.depth == 0 then fail("pattern too complex") end
  ms.depth = ms.depth - 1
  local pat, plen = ms.pat, ms.plen
  local r
  while true do
    if p > plen then
      r = s
      break
    end
    local pc = byte(pat, p)
    local nc = pc == ESC and byte(pat, p + 1)
    if pc == 40 then
      if byte(pat, p + 1) == 41 then
        r = start_capture(ms, s, p + 2, CAP_POSITION)
      else
        r = start_capture(ms, s, p + 1, CAP_UNFINISHED)
      end
      break
    elseif pc == 41 then
      r = end_capture(ms, s, p + 1)
      break
    elseif pc == 36 and p == plen then
      if s == ms.slen + 1 then r = s end
      break
    elseif nc == 98 then
      s = match_balance(ms, s, p + 2)
      if s == nil then break end
      p = p + 4
    elseif nc == 102 then
      p = p + 2
      if byte(pat, p) ~= 91 then fail("missing '[' after '%f' in pattern") end
      local ep = class_end(ms, p)
      local prev = s == 1 and 0 or byte(ms.src, s - 1)
      local cur = s <= ms.slen and byte(ms.src, s) or 0
      if match_set(ms, prev, p, ep - 1) or not match_set(ms, cur, p, ep - 1) then break end
      p = ep
    elseif nc and nc >= 48 and nc <= 57 then
      s = match_capture(ms, s, nc)
      if s == nil then break end
      p = p + 2
    else
      local ep = class_end(ms, p)
      local epc = byte(pat, ep)
      if not single_match(ms, s, p, ep) then
        if epc ~= 42 and epc ~= 63 and epc ~= 45 then break end
        p = ep + 1
      elseif epc == 63 then
        local res = do_match(ms, s + 1, ep + 1)
        if res then
          r = res
          break
        end
        p = ep + 1
      elseif epc == 43 then
        r = max_expand(ms, s + 1, p, ep)
        break
      elseif epc == 42 then
        r = max_expand(ms, s, p, ep)
        break
      elseif epc == 45 then
        r = min_expand(ms, s, p, ep)
        break
      else
        s, p = s + 1, ep
      end
    end
  end
  ms.depth = ms.depth + 1
  return r
end

local function new_state(src, pat)
  return {src = src, slen = #src, pat = pat, plen = #pat, level = 0, depth = MAXCCALLS, cinit = {}, clen = {}}
end

local function get_capture(ms, i, s, e)
  if i > ms.level then
    if i ~= 1 then fail(("invalid capture index %%%d"):format(i)) end
    return sub(ms.src, s, e - 1)
  end
  local len = ms.clen[i]
  if len == CAP_UNFINISHED then fail("unfinished capture") end
  local init = ms.cinit[i]
  if len == CAP_POSITION then return init end
  return sub(ms.src, init, init + len - 1)
end

local function captures(ms, s, e)
  local n = (ms.level == 0 and s) and 1 or ms.level
  if n == 1 then return get_capture(ms, 1, s, e) end
  local values = {}
  for i = 1, n do values[i] = get_capture(ms, i, s, e) end
  return unpack(values, 1, n)
end

local function lua_find(src, pat, init, is_find)
  local ls = #src
  if init > ls + 1 then return nil end
  local ms = new_state(src, pat)
  local p, anchor = 1, byte(pat, 1) == 94
  if anchor then p = 2 end
  local s = init
  repeat
    ms.level, ms.depth = 0, MAXCCALLS
    local e = do_match(ms, s, p)
    if e then
      if is_find then return s, e - 1, captures(ms, nil, 0) end
      return captures(ms, s, e)
    end
    s = s + 1
  until s > ls + 1 or anchor
  return nil
end

local function lua_gmatch_step(state)
  local ms = state.ms
  for s = state.pos, ms.slen + 1 do
    ms.level, ms.depth = 0, MAXCCALLS
    local e = do_match(ms, s, 1)
    if e and e ~= state.lastmatch then
      state.pos, state.lastmatch = e, e
      return captures(ms, s, e)
    end
  end
  state.pos = ms.slen + 2
end

local function add_string(ms, parts, s, e, news)
  local i = 1
  while true do
    local j = find(news, "%", i, true)
    if j == nil then break end
    if j > i then parts[#parts + 1] = sub(news, i, j - 1) end
    local d = byte(news, j + 1)
    if d == ESC then
      parts[#parts + 1] = "%"
    elseif d == 48 then
      parts[#parts + 1] = sub(ms.src, s, e - 1)
    elseif d and d >= 49 and d <= 57 then
      parts[#parts + 1] = get_capture(ms, d - 48, s, e)
    else
      fail("invalid use of '%' in replacement string")
    end
    i = j + 2
  end
  if i <= #news then parts[#parts + 1] = sub(news, i) end
end

local function add_value(ms, parts, s, e, repl, tr)
  if tr == "string" then return add_string(ms, parts, s, e, repl) end
  local value
  if tr == "function" then
    value = repl(captures(ms, s, e))
  else
    value = repl[get_capture(ms, 1, s, e)]
  end
  if not value then
    value = sub(ms.src, s, e - 1)
  elseif type(value) ~= "string" and type(value) ~= "number" then
    fail(("invalid replacement value (a %s)"):format(type(value)))
  end
  parts[#parts + 1] = value
end

local bounded_concat

local function lua_gsub(src, pat, repl, tr, max_n)
  local ls = #src
  local ms = new_state(src, pat)
  local p, anchor = 1, byte(pat, 1) == 94
  if anchor then p = 2 end
  local parts, s, copied, lastmatch, n = {}, 1, 1, nil, 0
  while n < max_n do
    ms.level, ms.depth = 0, MAXCCALLS
    local e = do_match(ms, s, p)
    if e and e ~= lastmatch then
      n = n + 1
      if s > copied then parts[#parts + 1] = sub(src, copied, s - 1) end
      add_value(ms, parts, s, e, repl, tr)
      s, lastmatch, copied = e, e, e
    elseif s <= ls then
      s = s + 1
    else
      break
    end
    if anchor then break end
  end
  if n == 0 then return src, 0 end
  if copied <= ls then parts[#parts + 1] = sub(src, copied) end
  return bounded_concat(parts), n
end

-- string.find with plain text: native find over windows of bounded cost.
local function plain_find(src, pat, init)
  local m = #pat
  local window = STEPS // (m + 1) + 1
  for start = init, #src - m + 1, window do
    local at = find(sub(src, start, start + window + m - 2), pat, 1, true)
    checkpoint()
    if at then return start + at - 1, start + at + m - 2 end
  end
  return nil
end

---------------------------------------------------------------------------
-- The string wrappers.

-- A native call's results, or its error raised at the caller's line (pcall gave it none) and with
-- the function's name (a function called by pcall is '?' to Lua).  An error that already names a
-- line (raised by user code the native function called: a metamethod, a replacement function)
-- and an error object that is not a string pass as they are.
local function checked(name, ok, ...)
  if ok then return ... end
  local err = ...
  if type(err) ~= "string" or find(err, "^[^\n]-:%d+: ") then error(err, 0) end
  error((gsub(err, "to '%?'", "to '" .. name .. "'", 1)), 2)
end

local function slow_find(s, p, init, plain)
  local src, pat = tostr(s), tostr(p)
  local i = init == nil and 1 or toint(init)
  if src == nil or pat == nil or i == nil then return checked("find", pcall(find, s, p, init, plain)) end
  local ls = #src
  i = start_index(i, ls)
  if i > ls + 1 then return nil end
  local a = analysed[pat] or analyse(pat)
  if plain or not a.special then
    if ls - i + 1 <= a.plain then return find(src, pat, i, true) end
    return plain_find(src, pat, i)
  end
  if ls - i + 1 <= a.find then return checked("find", pcall(find, src, pat, i)) end
  return finish(pcall(lua_find, src, pat, i, true))
end

function bounded.find(s, p, init, plain)
  if type(s) == "string" and type(p) == "string" then
    local a = analysed[p] or analyse(p)
    if #s <= ((plain or not a.special) and a.plain or a.find) then
      return checked("find", pcall(find, s, p, init, plain))
    end
  end
  return slow_find(s, p, init, plain)
end

local function slow_match(s, p, init)
  local src, pat = tostr(s), tostr(p)
  local i = init == nil and 1 or toint(init)
  if src == nil or pat == nil or i == nil then return checked("match", pcall(match, s, p, init)) end
  local ls = #src
  i = start_index(i, ls)
  if i > ls + 1 then return nil end
  if ls - i + 1 <= (analysed[pat] or analyse(pat)).find then return checked("match", pcall(match, src, pat, i)) end
  return finish(pcall(lua_find, src, pat, i, false))
end

function bounded.match(s, p, init)
  if type(s) == "string" and type(p) == "string" and #s <= (analysed[p] or analyse(p)).find then
    return checked("match", pcall(match, s, p, init))
  end
  return slow_match(s, p, init)
end

function bounded.gmatch(s, p, init)
  local src, pat = tostr(s), tostr(p)
  local i = init == nil and 1 or toint(init)
  if src == nil or pat == nil or i == nil then return checked("gmatch", pcall(gmatch, s, p, init)) end
  local ls = #src
  i = start_index(i, ls)
  if i > ls + 1 then i = ls + 2 end
  if ls - i + 1 <= (analysed[pat] or analyse(pat)).scan then return gmatch(src, pat, i) end
  local state = {ms = new_state(src, pat), pos = i}
  return function() return finish(pcall(lua_gmatch_step, state)) end
end

function bounded.gsub(s, p, repl, n)
  if n == nil and type(s) == "string" then
    local a = analysed[p]
    if a and #s <= a.find then return checked("gsub", pcall(gsub, s, p, repl)) end
  end
  local src, pat = tostr(s), tostr(p)
  local tr = type(repl)
  if tr == "number" then repl, tr = tostring(repl), "string" end
  local max_n = n == nil and src and #src + 1 or toint(n)
  if src == nil or pat == nil or max_n == nil
    or (tr ~= "string" and tr ~= "function" and tr ~= "table") then
    return checked("gsub", pcall(gsub, s, p, repl, n))
  end
  if #src <= (analysed[pat] or analyse(pat)).find then return checked("gsub", pcall(gsub, src, pat, repl, max_n)) end
  return finish(pcall(lua_gsub, src, pat, repl, tr, max_n))
end

function bounded.rep(s, n, sep)
  local src, count = tostr(s), toint(n)
  local separator = sep == nil and "" or tostr(sep)
  if src == nil or count == nil or separator == nil then return checked("rep", pcall(rep, s, n, sep)) end
  local width = #src + #separator
  if count <= 0 or width == 0 then return "" end
  local total = width * (count + 0.0)
  if total <= REP_PIECE or total >= 2 ^ 31 then return checked("rep", pcall(rep, src, count, separator)) end
  local per = REP_PIECE // width + 1
  local piece = rep(src, per, separator)
  local parts = {}
  for i = 1, count // per do parts[i] = piece end
  local rest = count % per
  if rest > 0 then parts[#parts + 1] = rep(src, rest, separator) end
  return concat(parts, separator)
end

---------------------------------------------------------------------------
-- The table wrappers: huge ranges go by native pieces of CHUNK elements.

-- Whether last - first spans at least CHUNK elements (without integer overflow).
local function long_range(first, last)
  return (last + 0.0) - first >= CHUNK
end

local function call_native(name, native, ...)
  return checked(name, pcall(native, ...))
end

bounded_concat = function(t, sep, i, j)
  local first = i == nil and 1 or toint(i)
  if type(t) ~= "table" or first == nil or (sep ~= nil and tostr(sep) == nil) then
    return call_native("concat", concat, t, sep, i, j)
  end
  local last = j
  if last == nil then last = #t end
  last = toint(last)
  if last == nil or not long_range(first, last) then return call_native("concat", concat, t, sep, first, last or j) end
  local parts, a = {}, first
  while true do
    local b = long_range(a, last) and a + CHUNK - 1 or last
    parts[#parts + 1] = call_native("concat", concat, t, sep, a, b)
    checkpoint()
    if b == last then break end
    a = b + 1
  end
  return concat(parts, sep)
end
bounded.concat = bounded_concat

local function chunked_move(a1, fi, ei, ti, dest)
  local count = ei - fi
  if ti > ei or ti <= fi or a1 ~= dest then
    local offset = 0
    while offset <= count do
      local last = offset + CHUNK - 1 < count and offset + CHUNK - 1 or count
      move(a1, fi + offset, fi + last, ti + offset, dest)
      checkpoint()
      offset = last + 1
    end
  else
    local last = count
    while last >= 0 do
      local offset = last - CHUNK + 1 > 0 and last - CHUNK + 1 or 0
      move(a1, fi + offset, fi + last, ti + offset, dest)
      checkpoint()
      last = offset - 1
    end
  end
  return dest
end

function bounded.move(a1, f, e, t, a2)
  local fi, ei, ti = toint(f), toint(e), toint(t)
  local dest = a2 == nil and a1 or a2
  if fi == nil or ei == nil or ti == nil or type(dest) ~= "table" or not long_range(fi, ei)
    or not (fi > 0 or ei < maxinteger + fi) or ti > maxinteger - (ei - fi) then
    return checked("move", pcall(move, a1, f, e, t, a2))
  end
  return chunked_move(a1, fi, ei, ti, dest)
end

function bounded.insert(t, ...)
  if select("#", ...) ~= 2 or type(t) ~= "table" then return call_native("insert", insert, t, ...) end
  local pos, value = ...
  local size, at = tointeger(#t), toint(pos)
  if size == nil or at == nil or at < 1 or at > size + 1 or not long_range(at, size) then
    return call_native("insert", insert, t, pos, value)
  end
  chunked_move(t, at, size, at + 1, t)
  t[at] = value
end

function bounded.remove(t, pos)
  if type(t) ~= "table" then return call_native("remove", remove, t, pos) end
  local size = tointeger(#t)
  local at = pos == nil and size or toint(pos)
  if size == nil or at == nil or at < 1 or at > size or not long_range(at, size) then
    return call_native("remove", remove, t, pos)
  end
  local value = t[at]
  chunked_move(t, at + 1, size, at, t)
  t[size] = nil
  return value
end

local function less(a, b) return a < b end

-- A merge sort in Lua, for arrays too long for one native sort.
local function merge_sort(t, n, lt)
  local a, b = {}, {}
  for i = 1, n do a[i] = t[i] end
  local width = 1
  while width < n do
    local lo = 1
    while lo <= n do
      local mid = lo + width <= n + 1 and lo + width or n + 1
      local hi = mid + width <= n + 1 and mid + width or n + 1
      local l, r, k = lo, mid, lo
      while l < mid and r < hi do
        if lt(a[r], a[l]) then
          b[k], r = a[r], r + 1
        else
          b[k], l = a[l], l + 1
        end
        k = k + 1
      end
      while l < mid do b[k], l, k = a[l], l + 1, k + 1 end
      while r < hi do b[k], r, k = a[r], r + 1, k + 1 end
      lo = hi
    end
    a, b = b, a
    width = width * 2
  end
  for i = 1, n do t[i] = a[i] end
end

function bounded.sort(t, comp)
  if type(t) ~= "table" or (comp ~= nil and type(comp) ~= "function") then
    return checked("sort", pcall(sort, t, comp))
  end
  local n = tointeger(#t)
  if n == nil or n <= SORT_NATIVE then return checked("sort", pcall(sort, t, comp)) end
  merge_sort(t, n, comp or less)
end

---------------------------------------------------------------------------
-- string.format: "%q" of a long string escapes byte by byte in one C call
-- (seconds for tens of megabytes): such a string is quoted in native pieces.

local QUOTE_PIECE = 1 << 20

local function iscntrl(c) return c < 32 or c == 127 end

local function quote_long(s)
  local parts, i, n = {}, 1, #s
  while i <= n do
    local j = i + QUOTE_PIECE - 1
    if j >= n then
      j = n
    elseif iscntrl(byte(s, j)) and find(s, "^%d", j + 1) then
      j = j + 1  -- a control character's escape depends on whether a digit follows: keep them together
    end
    parts[#parts + 1] = sub(format("%q", sub(s, i, j)), 2, -2)
    checkpoint()
    i = j + 1
  end
  return '"' .. concat(parts) .. '"'
end

-- format(fmt, ...) one conversion at a time, each long string's "%q" in pieces.
local function format_pieces(fmt, ...)
  local args, out, used, i = {...}, {}, 0, 1
  while true do
    local at = find(fmt, "%", i, true)
    if at == nil then
      out[#out + 1] = sub(fmt, i)
      break
    end
    out[#out + 1] = sub(fmt, i, at - 1)
    if byte(fmt, at + 1) == ESC then
      out[#out + 1] = "%"
      i = at + 2
    else
      local _, e = find(fmt, "^[-+ #0]*%d*%.?%d*%a", at + 1)
      if e == nil then return checked("format", pcall(format, fmt, ...)) end
      used = used + 1
      local value = args[used]
      if e == at + 1 and byte(fmt, e) == 113 and type(value) == "string" and #value > QUOTE_PIECE then
        out[#out + 1] = quote_long(value)
      else
        out[#out + 1] = checked("format", pcall(format, sub(fmt, at, e), value))
      end
      i = e + 1
    end
  end
  return concat(out)
end

function bounded.format(fmt, ...)
  if type(fmt) == "string" and find(fmt, "%q", 1, true) then
    for i = 1, select("#", ...) do
      local value = select(i, ...)
      if type(value) == "string" and #value > QUOTE_PIECE then return format_pieces(fmt, ...) end
    end
  end
  return checked("format", pcall(format, fmt, ...))
end

-- The Lua matcher itself, for tests that compare it with the native one.
bounded.lua = {
  find = function(s, p, init)
    init = start_index(init or 1, #s)
    if not find(p, SPECIALS) then return plain_find(s, p, init) end
    return finish(pcall(lua_find, s, p, init, true))
  end,
  match = function(s, p, init) return finish(pcall(lua_find, s, p, start_index(init or 1, #s), false)) end,
  gmatch = function(s, p)
    local state = {ms = new_state(s, p), pos = 1}
    return function() return finish(pcall(lua_gmatch_step, state)) end
  end,
  gsub = function(s, p, repl, n)
    local tr = type(repl)
    if tr == "number" then repl, tr = tostring(repl), "string" end
    return finish(pcall(lua_gsub, s, p, repl, tr, n or #s + 1))
  end,
}

for _, name in ipairs({"find", "match", "gmatch", "gsub", "rep", "format"}) do string[name] = bounded[name] end
for _, name in ipairs({"concat", "move", "insert", "remove", "sort"}) do table[name] = bounded[name] end

return bounded
