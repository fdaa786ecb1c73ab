-- Loaded once into each luaproxy Lua state, before any user file.
-- It turns Python errors into Lua strings, builds the class metatables and
-- runs every action, task and service inside xpcall with a traceback.
local pcall, xpcall, error, tostring, type = pcall, xpcall, error, tostring, type
local rawget, getmetatable, setmetatable = rawget, getmetatable, setmetatable
local traceback, sethook = debug.traceback, debug.sethook

local prelude = {}

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

-- A TXN with its channels, fetches, converters and (in HTTP mode) HTTP object, in one call.
function prelude.new_txn(classes, state, req, res, http)
  local txn = setmetatable({[0] = state}, classes.TXN)
  txn.req = setmetatable({[0] = req}, classes.Channel)
  txn.res = setmetatable({[0] = res}, classes.Channel)
  txn.f = setmetatable({[0] = state}, classes.Fetches)
  txn.sf = setmetatable({[0] = state}, classes.StringFetches)
  txn.c = setmetatable({[0] = state}, classes.Converters)
  txn.sc = setmetatable({[0] = state}, classes.StringConverters)
  if http ~= nil then txn.http = setmetatable({[0] = http}, classes.HTTP) end
  return txn
end

return prelude
