-- Loaded once into each luaproxy Lua state, before any user file.
-- It turns Python errors into Lua strings, builds the class metatables and
-- runs every action, task and service inside xpcall with a traceback.
local pcall, xpcall, error, tostring, type = pcall, xpcall, error, tostring, type
local rawget, rawset, getmetatable, setmetatable = rawget, rawset, getmetatable, setmetatable
local pairs, ipairs = pairs, ipairs
local traceback, sethook = debug.traceback, debug.sethook

local prelude = {}

-- The count hook is how a Lua run is held to its time budget and made to yield:
-- a script may not replace or remove it.
debug.sethook = function()
  error("debug.sethook is not available in luaproxy (it would lift the Lua time limit)", 2)
end

-- The error object of txn:done(): the runner treats it as success.
local DONE = setmetatable({}, {__tostring = function() return "txn:done()" end})
prelude.DONE = DONE

local function check(ok, ...)
  if ok then return ... end
  local err = ...
  if err == DONE then error(DONE, 0) end
  error(tostring(err), 2)
end

-- A plain function (core.msleep...): Python errors become Lua strings pointing at the caller.
function prelude.func(f)
  return function(...) return check(pcall(f, ...)) end
end

-- A method of class mt: checks self, then calls f with the Python state in slot 0.
function prelude.method(mt, name, f)
  local label = mt.__name
  return function(self, ...)
    if getmetatable(self) ~= mt then
      error(("bad argument #1 to '%s' (%s expected, got %s); call it with ':'"):format(
        name, label, type(self)), 2)
    end
    return check(pcall(f, rawget(self, 0), ...))
  end
end

function prelude.class(name)
  local methods = {}
  local mt = {__name = name, __index = methods}
  mt.__tostring = function(self) return name .. ": " .. tostring(rawget(self, 0)) end
  return mt, methods
end

function prelude.new(mt, state)
  return setmetatable({[0] = state}, mt)
end

-- done(): mark the transaction and unwind to the runner.
function prelude.done_method(mt, mark)
  return function(self)
    if getmetatable(self) == mt then pcall(mark, rawget(self, 0)) end
    error(DONE, 0)
  end
end

local function handler(err)
  if err == DONE then return DONE end
  return traceback(tostring(err), 2)
end

local function outcome(ok, ...)
  if ok then return "ok", ... end
  if (...) == DONE then return "done" end
  return "error", ...
end

-- Body of every coroutine: "ok", results... | "done" | "error", traceback.
-- The count hook (set on this coroutine only) enforces the time budget and
-- makes long Lua loops give way to other transactions.
local yield_hook, check_hook

-- The two count hooks, given once: Python functions that check the budget (and yield).
function prelude.set_hooks(yielding, checking)
  yield_hook = function() yielding() end
  check_hook = function() checking() end
end

function prelude.run(f, count, ...)
  sethook(yield_hook, "", count)
  return outcome(xpcall(f, handler, ...))
end

-- A run that must not block (fetch, converter, body, init) on the main thread:
-- the hook only checks the budget and is removed afterwards.
local function unhook(...)
  sethook()
  return ...
end

function prelude.call(f, count, ...)
  sethook(check_hook, "", count)
  return unhook(outcome(xpcall(f, handler, ...)))
end

-- Objects whose parts are built on first use: an action touches one or two of
-- a TXN's seven parts, a service few of its applet's request fields.
local function lazy_index(mt, makers)
  local methods = mt.__index
  mt.__index = function(self, key)
    local method = methods[key]
    if method ~= nil then return method end
    local make = makers[key]
    if make == nil then return nil end
    local value = make(self)
    rawset(self, key, value)
    return value
  end
end

-- Where an applet keeps its transaction's state: a key no user code can spell.
local TXN_STATE = {}

-- part_of(state, "req"|"res"|"http") and applet_field(state, name) are Python functions.
function prelude.lazy_parts(classes, part_of, applet_field)
  local function part(name, class)
    return function(self)
      local state = part_of(rawget(self, 0), name)
      if state ~= nil then return setmetatable({[0] = state}, classes[class]) end
    end
  end
  local function sample_class(class, slot)
    return function(self) return setmetatable({[0] = rawget(self, slot)}, classes[class]) end
  end
  local samples = {f = "Fetches", sf = "StringFetches", c = "Converters", sc = "StringConverters"}
  local txn_makers = {req = part("req", "Channel"), res = part("res", "Channel"), http = part("http", "HTTP")}
  local applet_makers = {}
  for key, class in pairs(samples) do
    txn_makers[key] = sample_class(class, 0)
    applet_makers[key] = sample_class(class, TXN_STATE)
  end
  for _, name in ipairs({"method", "path", "qs", "version", "length", "headers"}) do
    applet_makers[name] = function(self) return applet_field(rawget(self, 0), name) end
  end
  lazy_index(classes.TXN, txn_makers)
  lazy_index(classes.AppletHTTP, applet_makers)
end

function prelude.new_applet(mt, state, txn_state)
  return setmetatable({[0] = state, [TXN_STATE] = txn_state}, mt)
end

return prelude
