-- Loaded once into each luaproxy Lua state, before any user file.
-- It turns Python errors into Lua strings, builds the class metatables and
-- runs every action, task and service inside xpcall with a traceback.
local pcall, xpcall, error, tostring, type = pcall, xpcall, error, tostring, type
local rawget, rawset, getmetatable, setmetatable = rawget, rawset, getmetatable, setmetatable
local pairs, ipairs = pairs, ipairs
local traceback, sethook, getinfo = debug.traceback, debug.sethook, debug.getinfo
local concat = table.concat

local prelude = {}

-- The collector works in slices of 256 bytes' worth (incremental mode's step size, 2^8), not the default 8 KB:
-- each slice is paid by the run that allocates at that moment, and a run that paid a whole 8 KB slice of a
-- cycle's sweep took up to 1.2 ms, holding up every other connection of its worker for as long.
-- bench_lua_run --long-runs (80,000 runs, three rounds): the runs over 200 us took 26-31 ms in all for the action
-- (longest 1.0-1.2 ms) and 25-29 ms for the service (0.6-0.7 ms); with 256-byte slices 9-14 ms (0.3-0.6 ms) and
-- 0-3 ms (0.14-0.27 ms).  The mean and the instructions per run are unchanged.
collectgarbage("incremental", 200, 100, 8)

-- An AppletHTTP's output waits in Lua (see applet_http_head): it is handed to Python before any
-- other call into Python, so nothing that Python does (a wait, a read) can find it missing.
local pending, flush_pending

-- A service's AppletHTTP holds an integer handle in slot 0 (pushing an integer into Lua costs
-- far less than wrapping a Python object on every run); the first call that needs the Python
-- state asks Python for it once (resolve_handle, set by applet_http_head) and keeps it.
local mathtype = math.type
local resolve_handle

local function state_of(self)
  local state = self[0]
  if mathtype(state) == "integer" then
    state = resolve_handle(state)
    self[0] = state
  end
  return state
end

-- The count hook is how a Lua run is held to its time budget and made to yield:
-- a script may not replace or remove it.
debug.sethook = function()
  error("debug.sethook is not available in luaproxy (it would lift the Lua time limit)", 2)
end

-- The error object of txn:done(): the runner treats it as success.
local DONE = setmetatable({}, {__tostring = function() return "txn:done()" end})
prelude.DONE = DONE

-- The error object of core.done(data): the runner returns data as the run's value.
local EXIT = {__tostring = function() return "core.done()" end}

local function unwinding(err)
  return err == DONE or getmetatable(err) == EXIT
end

function prelude.core_done(data)
  error(setmetatable({data}, EXIT), 0)
end

local function check(ok, ...)
  if ok then return ... end
  local err = ...
  if unwinding(err) then error(err, 0) end
  error(tostring(err), 2)
end

-- A plain function (core.msleep...): Python errors become Lua strings pointing at the caller.
function prelude.func(f)
  return function(...)
    if pending ~= nil then flush_pending() end
    return check(pcall(f, ...))
  end
end

-- A method called with '.' instead of ':' (self is not an object of its class): the error names
-- the method's caller, level 3 from here (4 through a checking helper).
local function wrong_self(name, label, self, level)
  error(("bad argument #1 to '%s' (%s expected, got %s); call it with ':'"):format(
    name, label, type(self)), level or 3)
end

-- A method of class mt: checks self, then calls f with the Python state in slot 0 (asked of
-- Python on first use for a class whose objects hold a handle).
function prelude.method(mt, name, f, handles)
  local label = mt.__name
  if handles then
    return function(self, ...)
      if getmetatable(self) ~= mt then wrong_self(name, label, self) end
      if pending ~= nil then flush_pending() end
      return check(pcall(f, state_of(self), ...))
    end
  end
  return function(self, ...)
    if getmetatable(self) ~= mt then wrong_self(name, label, self) end
    if pending ~= nil then flush_pending() end
    return check(pcall(f, self[0], ...))
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

-- Reply objects (txn:reply()): plain tables with status, reason, headers and
-- body fields, as HAProxy's are, so scripts may also set the fields directly.
-- As in haproxy 2.6 the reason field always starts as the status's standard
-- phrase, the body as nil, and every method returns true (set_status false for
-- a status out of 100-599, which it leaves alone).
local reason_of = function() return nil end

-- Python's worker.http.pages.reason, given once the runtime is up.
function prelude.set_reason(f) reason_of = f end

local reply_methods = {}
local reply_mt = {__name = "Reply", __index = reply_methods}

local function checkreply(self, name)
  if getmetatable(self) ~= reply_mt then wrong_self(name, "Reply", self, 4) end
end

local function checkstring(value, name, position)
  local t = type(value)
  if t ~= "string" and t ~= "number" then
    error(("bad argument #%d to '%s' (string expected, got %s)"):format(position, name, t), 3)
  end
  return tostring(value)
end

function reply_methods.set_status(self, status, reason)
  checkreply(self, "set_status")
  local code = math.tointeger(status)
  if code == nil then
    error(("bad argument #2 to 'set_status' (number expected, got %s)"):format(type(status)), 2)
  end
  if code < 100 or code > 599 then return false end
  self.status = code
  if reason ~= nil then self.reason = checkstring(reason, "set_status", 3) else self.reason = reason_of(code) end
  return true
end

function reply_methods.add_header(self, name, value)
  checkreply(self, "add_header")
  name, value = checkstring(name, "add_header", 2), checkstring(value, "add_header", 3)
  local values = self.headers[name]
  if values == nil then
    values = {}
    self.headers[name] = values
  end
  values[#values + 1] = value
  return true
end

function reply_methods.del_header(self, name)
  checkreply(self, "del_header")
  self.headers[checkstring(name, "del_header", 2)] = nil
  return true
end

function reply_methods.set_body(self, body)
  checkreply(self, "set_body")
  self.body = checkstring(body, "set_body", 2)
  return true
end

-- The table's status (a number) and body (a string) are taken as they are; its reason is not (haproxy 2.6).
function prelude.new_reply(_, init)
  local reply = setmetatable({status = 200, headers = {}}, reply_mt)
  if init ~= nil then
    if type(init) ~= "table" then
      error(("bad argument #2 to 'reply' (table expected, got %s)"):format(type(init)), 2)
    end
    if type(init.status) == "number" then reply.status = math.tointeger(init.status) or 200 end
    for name, values in pairs(init.headers or {}) do
      if type(values) == "table" then
        for _, value in ipairs(values) do reply:add_header(name, value) end
      else
        reply:add_header(name, values)
      end
    end
    if type(init.body) == "string" then reply.body = init.body end
  end
  reply.reason = reason_of(reply.status)
  return reply
end

-- A reply table flattened for Python: status, reason, {name, value, name, value...}, body.
local function flatten_reply(reply)
  if type(reply) ~= "table" then
    error(("bad argument #2 to 'done' (table expected, got %s)"):format(type(reply)), 3)
  end
  local flat = {}
  for name, values in pairs(reply.headers or {}) do
    if type(values) ~= "table" then values = {values} end
    for _, value in ipairs(values) do
      flat[#flat + 1] = tostring(name)
      flat[#flat + 1] = tostring(value)
    end
  end
  return math.tointeger(reply.status) or 200, reply.reason, flat, tostring(reply.body or "")
end

-- A header table in HAProxy's layout, t[name][0..n-1] = value, from name, value, name, value...
-- (one call from Python instead of one table conversion per header name).
function prelude.headers_table(...)
  local t, n = {}, select("#", ...)
  local args = {...}
  for i = 1, n, 2 do
    local name, value = args[i], args[i + 1]
    local values = t[name]
    if values == nil then
      t[name] = {[0] = value}
    else
      values[#values + 1] = value
    end
  end
  return t
end

-- Concat objects (core.concat()): the parts kept in a Lua array, joined once by dump().
local concat_methods = {}
local concat_mt = {__name = "Concat", __index = concat_methods}
concat_mt.__tostring = function(self) return "Concat object: " .. tostring(rawget(self, 0)):gsub("^table: ", "") end

function concat_methods.add(self, text)
  if getmetatable(self) ~= concat_mt then wrong_self("add", "Concat", self) end
  local parts = rawget(self, 0)
  parts[#parts + 1] = checkstring(text, "add", 2)
end

function concat_methods.dump(self)
  if getmetatable(self) ~= concat_mt then wrong_self("dump", "Concat", self) end
  return concat(rawget(self, 0))
end

function prelude.new_concat()
  return setmetatable({[0] = {}}, concat_mt)
end

-- The TXN whose action runs now (set by the action launcher, cleared when it ends or another kind
-- of run starts), and where a TXN notes that its txn:done() was called: a key no user code can spell,
-- false in every TXN from the start so that plain indexing reads it.
local acting
local DONE_CALLED = {}
local mark_done

-- done([reply]): keep the reply, mark the transaction and unwind to the runner.  The running
-- action's own TXN, without a reply, is marked by its run's outcome instead of a call into Python
-- (action_end; the action sets the transaction's done flag when its run ends in DONE).
function prelude.done_method(mt, mark)
  mark_done = mark
  return function(self, reply)
    if getmetatable(self) == mt then
      if reply ~= nil then
        pcall(mark, self[0], flatten_reply(reply))
      elseif self == acting then
        self[DONE_CALLED] = true
      else
        pcall(mark, self[0])
      end
    end
    error(DONE, 0)
  end
end

local function handler(err)
  if unwinding(err) then return err end
  return traceback(tostring(err), 2)
end

-- Integers, not strings: Python gets them without making a str per run (runner.OK, DONE, ERROR).
local OK, DONE_CODE, ERROR = 0, 1, 2

local function outcome(ok, ...)
  if ok then return OK, ... end
  local err = ...
  if err == DONE then return DONE_CODE end
  if getmetatable(err) == EXIT then return OK, err[1] end
  return ERROR, ...
end

-- Outcome of a run: OK, results... | DONE_CODE | ERROR, traceback.
-- The count hook (set on the running coroutine only) enforces the time budget
-- and makes long Lua loops give way to other transactions.  It is set just before the run's
-- function is called and removed as soon as it returns: under a count hook every Lua instruction
-- costs twice as much, and the launchers' own instructions are no script's time.
local yield_hook, check_hook

-- AppletHTTP's methods that read its output slots and write them back (applet_http_head): a forced
-- yield inside one must not hand that output over, or the method would then write back what already went.
local updating = {}

-- The two count hooks, given once: Python functions that check the budget (and yield).
-- Level 2 of a hook is the function it interrupted.
function prelude.set_hooks(yielding, checking)
  yield_hook = function()
    if pending ~= nil and not updating[getinfo(2, "f").func] then flush_pending() end
    yielding()
  end
  check_hook = function() checking() end
end

-- Pooled coroutines run one entry point after another: a coroutine is made once and
-- reused, not made per run.  Between runs it waits in wait(), having yielded FINISHED
-- (a Python object no script can reach: a script's own top-level coroutine.yield never
-- looks like the end of a run), the object the launcher made (or nil) and the outcome.
-- Every step is a tail call, so the stack never grows and a finished run's function
-- and arguments are not kept by the waiting coroutine.
local yield = coroutine.yield
local FINISHED, wait

local function dispatch(launch, ...)
  return launch(...)
end

-- A waiting coroutine has no hook: each launcher sets its own around the run's function.
wait = function(made, ...)
  return dispatch(yield(FINISHED, made, ...))
end

-- Body of each pooled coroutine; its first resume only gets it ready.
function prelude.pooled(finished)
  FINISHED = finished
  return wait(nil)
end

-- The launchers, given with each run: f(...), f(applet), f(txn, ...).
-- xpcall's results with the count hook removed: the first thing a run does once its function returned.
local function unhooked(...)
  sethook()
  return ...
end

function prelude.launch(count, f, ...)
  acting = nil
  sethook(yield_hook, "", count)
  return wait(nil, outcome(unhooked(xpcall(f, handler, ...))))
end

-- A run that must not block (fetch, converter, body, init) on the main thread:
-- the hook only checks the budget.
function prelude.call(f, count, ...)
  sethook(check_hook, "", count)
  return outcome(unhooked(xpcall(f, handler, ...)))
end

-- AppletHTTP's response (status, reason, headers, body parts) stays in the applet until the run
-- ends, when the launcher hands it to Python with the outcome: a service that answers at once
-- crosses into Python only to be resumed.  It goes earlier, in one call, before any other call
-- into Python (the applet is then `pending`), at a forced yield, or once PENDING_LIMIT bytes wait.
-- set_status, add_header and send call Python only to check (and convert) an argument Lua cannot
-- take as it is.  The applet's table is made with every slot it uses (false until set), so filling
-- them never grows it and plain indexing reads them (never nil: __index is not consulted, and no
-- rawget call is paid): keys no user code can spell.
local STATUS, REASON, FIELDS, NFIELDS, BODY, STAGE = {}, {}, {}, {}, {}, {}
local IDLE, STARTED, HEAD_OUT = 0, 1, 2
local PENDING_LIMIT = 16384
-- set_status's usual argument: an integer status (or a float with one) is looked up, not checked by a call.
local STATUS_CODES = {}
for code = 100, 599 do STATUS_CODES[code] = code end
-- The texts of AppletHTTP's string arguments, by argument (AppletHTTP's plain).
local TEXTS_KEPT, TEXT_KEPT_LENGTH = 1024, 64
local texts, kept_texts = {}, 0
local unpack = table.unpack
local http_applet_mt

-- The methods every service calls are the applet's own fields too (made with the table, before the run's
-- count hook is set): a method read then finds them at once, without __index's call (lazy_index).
local set_status, add_header, start_response, send

local function new_http_applet(handle)
  return setmetatable({[0] = handle, [STATUS] = 200, [REASON] = false, [FIELDS] = false, [NFIELDS] = 0,
                       [BODY] = false, [STAGE] = IDLE, set_status = set_status, add_header = add_header,
                       start_response = start_response, send = send}, http_applet_mt)
end

-- The applet's output as Python's deliver takes it: status (nil once the head went), reason, body, fields...
local function output_of(applet)
  local body = applet[BODY]
  if body and type(body) == "table" then body = concat(body) end
  applet[BODY] = false
  if applet[STAGE] == HEAD_OUT then return nil, nil, body or nil end
  applet[STAGE] = HEAD_OUT
  local fields = applet[FIELDS]
  if fields then
    return applet[STATUS], applet[REASON] or nil, body or nil, unpack(fields, 1, applet[NFIELDS])
  end
  return applet[STATUS], applet[REASON] or nil, body or nil
end

local deliver

flush_pending = function()
  local applet = pending
  pending = nil
  local ok, err = pcall(deliver, state_of(applet), output_of(applet))
  if not ok then error(tostring(err), 3) end
end

function prelude.applet_http_head(mt, methods, check_status, check_header, check_body, deliver_output, resolve)
  http_applet_mt, deliver, resolve_handle = mt, deliver_output, resolve
  -- A string argument's text when Lua can tell it alone (a string, or an integer as Python's checks.string
  -- writes it), else nil (Python checks the argument then).  Callers look in texts first: the short strings
  -- and the integers seen before (up to TEXTS_KEPT) cost one table read, and no call.
  local function plain(value)
    local text
    if type(value) == "string" then
      text = value
    elseif mathtype(value) == "integer" then
      text = value .. ""
    else
      return nil
    end
    if kept_texts < TEXTS_KEPT and #text <= TEXT_KEPT_LENGTH then texts[value], kept_texts = text, kept_texts + 1 end
    return text
  end
  function methods.set_status(self, status, reason)
    if getmetatable(self) ~= mt then wrong_self("set_status", mt.__name, self) end
    local code = STATUS_CODES[status]
    if code == nil or (reason ~= nil and type(reason) ~= "string") then
      local ok, checked, text = pcall(check_status, nil, status, reason)
      if not ok then error(tostring(checked), 2) end
      code, reason = checked, text
    end
    self[STATUS] = code
    self[REASON] = reason or false
  end
  function methods.add_header(self, name, value)
    if getmetatable(self) ~= mt then wrong_self("add_header", mt.__name, self) end
    local n, v = texts[name] or plain(name), texts[value] or plain(value)
    if n == nil or v == nil then
      local ok, checked_name, checked_value = pcall(check_header, nil, name, value)
      if not ok then error(tostring(checked_name), 2) end
      n, v = checked_name, checked_value
    end
    local fields = self[FIELDS]
    if not fields then
      fields = {nil, nil, nil, nil, nil, nil, nil, nil}  -- room for four headers, made at once
      self[FIELDS] = fields
    end
    local count = self[NFIELDS]
    fields[count + 1], fields[count + 2] = n, v
    self[NFIELDS] = count + 2
  end
  function methods.start_response(self)
    if getmetatable(self) ~= mt then wrong_self("start_response", mt.__name, self) end
    if self[STAGE] ~= IDLE then error("start_response: the response was already started", 2) end
    self[STAGE] = STARTED
    if pending ~= self then
      if pending ~= nil then flush_pending() end
      pending = self
    end
  end
  function methods.send(self, data)
    if getmetatable(self) ~= mt then wrong_self("send", mt.__name, self) end
    local text = texts[data] or plain(data)
    if text == nil then
      local ok, checked = pcall(check_body, nil, data)
      if not ok then error(tostring(checked), 2) end
      text = checked
    end
    if self[STAGE] == IDLE then self[STAGE] = STARTED end
    local body, size = self[BODY], nil
    if not body then
      self[BODY] = text
      size = #text
    elseif type(body) == "string" then
      size = #body + #text
      self[BODY] = {body, text, size = size}
    else
      size = body.size + #text
      body[#body + 1], body.size = text, size
    end
    if pending ~= self then
      if pending ~= nil then flush_pending() end
      pending = self
    end
    if size >= PENDING_LIMIT then flush_pending() end
  end
  set_status, add_header, start_response, send = methods.set_status, methods.add_header, methods.start_response,
                                                 methods.send
  for _, method in ipairs({set_status, add_header, start_response, send, output_of, flush_pending}) do
    updating[method] = true
  end
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
    self[key] = value
    return value
  end
end

-- Where a TXN keeps whether it is in HTTP mode, and the client address text its running action was handed
-- (false outside its action's runs: a set-src rule may change it between runs); where a TXN's fetch
-- objects keep their TXN.  Keys no user code can spell.
local HTTP_MODE, SRC, OWNER = {}, {}, {}

-- Made with room for the parts an action reads most (sf, f, http: set on first use, by lazy_index), so that
-- storing them does not grow the table (the nil fields only size it).  set_var, the method actions call most,
-- is the TXN's own field too, as an HTTP applet's methods are its own (new_http_applet): a method read then finds
-- it at once, without lazy_index's call (bench_lua_run action: 88.9k -> 88.2k), and it fills the table's eighth slot.
local txn_set_var
local function new_txn(mt, state, http_mode)
  return setmetatable({[0] = state, [HTTP_MODE] = http_mode == true, [DONE_CALLED] = false, [SRC] = false,
                       sf = nil, f = nil, http = nil, set_var = txn_set_var}, mt)
end
prelude.new_txn = new_txn

-- applet_field(state, name) is a Python function.  A TXN's parts hold its transaction (the Channel
-- classes' methods take their channel from it: classes.Channel and classes.ResponseChannel).
function prelude.lazy_parts(classes, applet_field)
  local function txn_part(class)
    local mt = classes[class]
    return function(self) return setmetatable({[0] = self[0], [OWNER] = self}, mt) end
  end
  -- An applet's fetches and converters work on its transaction, asked of Python on first use
  -- (most services use none: a run hands Lua only the applet's own state).
  local function applet_sample_class(class)
    return function(self) return setmetatable({[0] = applet_field(state_of(self), "txn")}, classes[class]) end
  end
  local samples = {f = "Fetches", sf = "StringFetches", c = "Converters", sc = "StringConverters"}
  -- txn.http needs no call to Python: new_txn noted whether the transaction is in HTTP mode (a slot every
  -- TXN has: plain indexing reads it).
  local http_mt = classes.HTTP
  local function http_part(self)
    if self[HTTP_MODE] then return setmetatable({[0] = self[0]}, http_mt) end
  end
  local txn_makers = {req = txn_part("Channel"), res = txn_part("ResponseChannel"), http = http_part}
  local applet_makers = {}
  for key, class in pairs(samples) do
    txn_makers[key] = txn_part(class)
    applet_makers[key] = applet_sample_class(class)
  end
  for _, name in ipairs({"method", "path", "qs", "version", "length", "headers"}) do
    applet_makers[name] = function(self) return applet_field(state_of(self), name) end
  end
  local tcp_applet_makers = {}
  for key, class in pairs(samples) do tcp_applet_makers[key] = applet_makers[key] end
  -- txn.f:src() and txn.sf:src() in an action answer with the address its run was handed: no call to Python.
  for _, class in ipairs({"Fetches", "StringFetches"}) do
    local mt = classes[class]
    local methods = mt.__index
    local python_src = methods.src
    methods.src = function(self, ...)
      if getmetatable(self) == mt and select("#", ...) == 0 then
        local owner = self[OWNER]
        if owner then
          local src = owner[SRC]
          if src then return src end
        end
      end
      return python_src(self, ...)
    end
  end
  txn_set_var = classes.TXN.__index.set_var  -- before lazy_index makes __index a function
  lazy_index(classes.TXN, txn_makers)
  lazy_index(classes.AppletHTTP, applet_makers)
  lazy_index(classes.AppletTCP, tcp_applet_makers)
end

local function new_applet(mt, state)
  return setmetatable({[0] = state}, mt)
end
prelude.new_applet = new_applet

-- A service's ending, from xpcall's results (the count hook is removed first): its outcome code, the error's
-- traceback, then what output the applet still holds (outcome's common case written out: one call fewer per service).
local function applet_end(applet, http, ok, ...)
  sethook()
  local code, err = OK, nil
  if not ok then code, err = outcome(false, ...) end
  if code == OK then err = nil end
  if pending == applet then
    pending = nil
    return wait(nil, code, err, output_of(applet))
  end
  -- Not pending, an HTTP applet may still hold output: another service started while this one yielded.
  if http and (applet[BODY] or applet[STAGE] == STARTED) then return wait(nil, code, err, output_of(applet)) end
  return wait(nil, code, err)
end

-- A service's launcher (AppletHTTP or AppletTCP, by its class mt), made once: its job is (launcher, handle | state).
-- The applet is made in the coroutine that runs it: no call from Python to make it.
-- What it holds of its output comes back with the outcome (a pending applet left by a run that was
-- killed mid-way is dropped).
function prelude.service_launcher(count, f, mt)
  local http = mt == http_applet_mt
  local new = http and new_http_applet or function(state) return new_applet(mt, state) end
  return function(state)
    acting = nil
    pending = nil
    local applet = new(state)
    sethook(yield_hook, "", count)
    return applet_end(applet, http, xpcall(f, handler, applet))
  end
end

-- An action's launcher, made once with its function and configured arguments: a run's job is
-- (launcher, TXN object, src) or, for a transaction that has none yet, (launcher, nil, src, state, http mode)
-- (src: the client address as txn.sf:src() gives it, or nil to let that fetch ask Python):
-- the TXN is then made here and handed back to Python (which keeps it for the transaction's later
-- runs) with the outcome.
-- An action's ending: a txn:done() noted on its own TXN (done_method) makes the outcome DONE, or,
-- when the run ended in an error all the same (a script's pcall caught the unwinding), is marked now.
-- It takes xpcall's results itself (outcome's common case written out: one call fewer per action), and
-- removes the count hook first.
local function action_end(txn, made, ok, ...)
  sethook()
  if acting == txn then acting = nil end
  txn[SRC] = false
  if txn[DONE_CALLED] then
    txn[DONE_CALLED] = false
    if ok or unwinding(...) then return wait(made, DONE_CODE) end
    pcall(mark_done, txn[0])
  end
  if ok then return wait(made, OK, ...) end
  return wait(made, outcome(false, ...))
end

function prelude.action_launcher(count, f, mt, ...)
  local args = table.pack(...)
  local n = args.n
  return function(txn, src, state, http_mode)
    local made = nil
    if txn == nil then
      txn = new_txn(mt, state, http_mode)
      made = txn
    end
    acting = txn
    txn[SRC] = src or false
    if n == 0 then
      sethook(yield_hook, "", count)
      return action_end(txn, made, xpcall(f, handler, txn))
    end
    sethook(yield_hook, "", count)
    return action_end(txn, made, xpcall(f, handler, txn, unpack(args, 1, n)))
  end
end

return prelude
