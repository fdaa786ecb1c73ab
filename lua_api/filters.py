"""core.register_filter and ``filter lua.NAME args``: HAProxy 2.6's Lua filters.

A filter's callbacks run as the last rule of its proxy's ``http-request``
(request side) and ``http-response`` (response side) rules, which is where
haproxy 2.6 calls ``http_headers`` (after the rules, before the payload).  For
each side and transaction the filter instance (``Flt:new()``, once per
transaction) sees ``start_analyze``, ``http_headers`` and ``http_end``; the
request's ``end_analyze`` comes after the response's headers, as in haproxy
2.6, then the response's, with an HTTPMessage whose header and start-line
methods edit the one message model.

Payload: a filter with ``http_payload`` that called
``filter.register_data_filter(self, chn)`` joins the transaction's body
filter chain (``worker.filters``) of that side: the response body on its way
to the client, or the request body on its way to the server.  Each body chunk is appended to the
message's incoming data and ``http_payload`` runs; what it forwarded or sent,
then the rest of the incoming data, goes to the client, unless it returned
``filter.WAIT``, which holds the rest back (up to a buffer) for the next call.
At the end of the body ``http_payload`` runs once more with ``eom()`` true,
then ``http_end`` and ``end_analyze``.  The body it rewrites leaves chunked
(its Content-Length is dropped).  A Lua error there ends the connection (on
the request side, the client gets 500 and the server never the rest).  An
HTTP/1.0 request body is not filtered (it cannot leave chunked).
In a TCP proxy the driver's ``tcp_*`` functions serve lua_api.tcp_filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from luaproxy.worker.channel import Channel
from luaproxy.worker.filters.chain import FilterAborted, reframe
from luaproxy.worker.filters.chain import of as filters_of
from luaproxy.worker.http.framing import NONE, request_framing, response_framing
from luaproxy.worker.http.grammar import at_least_http11

from . import checks, runner
from .channel import _length, _offset
from .contexts import Context, Run
from .errors import LuaApiError
from .http import headers_table

CONSTANTS = {"CONTINUE": 1, "WAIT": 0, "ERROR": -1, "FLT_CFG_FL_HTX": 1}
WAIT = 0

DRIVER = """
local per_txn = setmetatable({}, {__mode = "k"})
local data_filters = setmetatable({}, {__mode = "k"})
local payloads = setmetatable({}, {__mode = "k"})  -- txn -> slot -> {flt, msg, chn}
local ERROR = -1

local function side_of(chn) return chn:is_resp() and "res" or "req" end

local function register(flt, chn)
   local sides = data_filters[flt] or {}
   sides[side_of(chn)] = true
   data_filters[flt] = sides
end

local function unregister(flt, chn)
   local sides = data_filters[flt]
   if sides then sides[side_of(chn)] = nil end
end

local function payload(txn, slot)
   local p = payloads[txn][slot]
   return p.flt:http_payload(txn, p.msg)
end

local function finish(txn, slot)
   local p = payloads[txn][slot]
   payloads[txn][slot] = nil
   local code = p.flt.http_end and p.flt:http_end(txn, p.msg)
   if p.flt.end_analyze and p.chn:is_resp() then p.flt:end_analyze(txn, p.chn) end
   return code
end

local function instance(txn, conf)
   local instances = per_txn[txn]
   if instances == nil then
      instances = {}
      per_txn[txn] = instances
   end
   local flt = instances[conf]
   if flt == nil then
      flt = conf.new(conf)
      instances[conf] = flt
   end
   return flt
end

local function make(conf, side, new_message, attach, slot)
   return function(txn)
      local flt = instance(txn, conf)
      if flt == nil then return end
      local chn = side == "res" and txn.res or txn.req
      local msg = new_message(txn, side, chn)
      rawset(txn, side == "res" and "http_res" or "http_req", msg)
      local failed = false
      if flt.start_analyze then flt:start_analyze(txn, chn) end
      if flt.http_headers and flt:http_headers(txn, msg) == ERROR then failed = true end
      if side == "res" and flt.end_analyze then flt:end_analyze(txn, txn.req) end
      local sides = data_filters[flt]
      if not failed and flt.http_payload and sides and sides[side] then
         local key = side == "res" and slot or -slot
         payloads[txn] = payloads[txn] or {}
         payloads[txn][key] = {flt = flt, msg = msg, chn = chn}
         if attach(msg, key) then return end
         payloads[txn][key] = nil
      end
      if flt.http_end and flt:http_end(txn, msg) == ERROR then failed = true end
      if side == "res" and flt.end_analyze then flt:end_analyze(txn, chn) end
      if failed then return act.ERROR end
   end
end

-- TCP filters: the callback's channel (txn.req or txn.res) shows the filter's own view while it runs.
local function with_view(chn, view, f, ...)
   local real = rawget(chn, 0)
   rawset(chn, 0, view)
   local restore <close> = setmetatable({}, {__close = function() rawset(chn, 0, real) end})
   return f(...)
end

-- What a callback returned, as haproxy reads it (lua_tointeger): nil when nothing, else an integer (0 if none).
local function counted(...)
   if select("#", ...) == 0 then return nil end
   local number = tonumber((...))
   return number and math.tointeger(number) or 0
end

local function tcp_attach(txn, conf)
   return instance(txn, conf) ~= nil
end

local function tcp_analyze(txn, conf, name, side, view)
   local flt = per_txn[txn][conf]
   local f = flt[name]
   if type(f) ~= "function" then return nil end
   local chn = side == "res" and txn.res or txn.req
   return counted(with_view(chn, view, f, flt, txn, chn))
end

local function tcp_payload(txn, conf, side, view)
   local flt = per_txn[txn][conf]
   local sides = data_filters[flt]
   if not (sides and sides[side]) or type(flt.tcp_payload) ~= "function" then return false end
   local chn = side == "res" and txn.res or txn.req
   return true, counted(with_view(chn, view, flt.tcp_payload, flt, txn, chn))
end

return {make = make, register = register, unregister = unregister, payload = payload, finish = finish,
        tcp_attach = tcp_attach, tcp_analyze = tcp_analyze, tcp_payload = tcp_payload}
"""


@dataclass(frozen=True, slots=True)
class RegisteredFilter:
    name: str
    cls: Any
    function: Any


@dataclass(frozen=True, slots=True)
class MessageState:
    txn: Any
    side: str
    payload: Channel = field(default_factory=lambda: Channel("msg", 0))
    """The body bytes a payload callback sees (input) and has let through (output); input_closed is eom()."""

    @property
    def message(self) -> Any:
        message = self.txn.request if self.side == "req" else self.txn.response
        if message is None:
            raise LuaApiError("HTTPMessage: no HTTP message here")
        return message


def get_stline(runtime: Any, state: MessageState) -> Any:
    message = state.message
    if state.side == "req":
        return runtime.table_from({"method": message.method, "uri": message.target, "version": message.version})
    return runtime.table_from({"version": message.version, "code": message.status, "reason": message.reason})


def message_functions(runtime: Any, http_functions: dict[str, Any]) -> dict[str, Any]:
    """HTTPMessage's methods; header and start-line edits reuse the HTTP class's functions."""
    def on_side(name: str) -> Any:
        def call(state: MessageState, *args: Any) -> Any:
            return http_functions[f"{state.side}_{name}"](state.txn, *args)
        return call

    def request_only(name: str) -> Any:
        def call(state: MessageState, *args: Any) -> Any:
            if state.side != "req":
                raise LuaApiError(f"{name}: only on the request")
            return http_functions[f"req_{name}"](state.txn, *args)
        return call

    def set_status(state: MessageState, status: Any, reason: Any = None) -> None:
        if state.side != "res":
            raise LuaApiError("set_status: only on the response")
        http_functions["res_set_status"](state.txn, status, reason)

    functions: dict[str, Any] = {
        "get_headers": lambda state: headers_table(runtime, state.message.headers),
        "get_stline": lambda state: get_stline(runtime, state),
        "is_resp": lambda state: state.side == "res",
        "set_status": set_status,
        **PAYLOAD_FUNCTIONS,
    }
    for name in ("add_header", "del_header", "set_header", "rep_header", "rep_value"):
        functions[name] = on_side(name)
    for name in ("set_method", "set_path", "set_query", "set_uri"):
        functions[name] = request_only(name)
    return functions


# The payload methods: they work on the message's payload channel and never wait (a filter never yields).

def _body(state: MessageState, offset: Any = None, length: Any = None) -> bytes | None:
    chn = state.payload
    start = _offset(chn, offset, "body")
    size = _length(chn, length, start, "body")
    if not chn.input and chn.input_closed:
        return None
    return bytes(chn.input[start : start + size])


def _remove(state: MessageState, offset: Any = None, length: Any = None) -> int:
    chn = state.payload
    start = _offset(chn, offset, "remove")
    size = min(_length(chn, length, start, "remove"), len(chn.input) - start)
    del chn.input[start : start + size]
    return size


def _insert(state: MessageState, text: Any, offset: Any = None) -> int:
    chn = state.payload
    data = checks.as_bytes(text, "insert", 2)
    start = _offset(chn, offset, "insert")
    chn.input[start:start] = data
    return len(data)


def _set(state: MessageState, text: Any, offset: Any = None, length: Any = None) -> int:
    chn = state.payload
    data = checks.as_bytes(text, "set", 2)
    start = _offset(chn, offset, "set")
    size = min(_length(chn, length, start, "set", 4), len(chn.input) - start)
    chn.input[start : start + size] = data
    return len(data)


def _append(state: MessageState, text: Any) -> int:
    data = checks.as_bytes(text, "append", 2)
    state.payload.input += data
    return len(data)


def _forward(state: MessageState, size: Any) -> int:
    return state.payload.forward(checks.integer(size, "forward", 2))


def _set_eom(state: MessageState, value: bool) -> None:
    state.payload.input_closed = value


PAYLOAD_FUNCTIONS: dict[str, Any] = {
    "body": _body,
    "remove": _remove,
    "insert": _insert,
    "prepend": lambda state, text: _insert(state, text, 0),
    "append": _append,
    "set": _set,
    "send": lambda state, text: state.payload.send(checks.as_bytes(text, "send", 2)),
    "forward": _forward,
    "input": lambda state: len(state.payload.input),
    "output": lambda state: len(state.payload.output),
    "eom": lambda state: state.payload.input_closed,
    "set_eom": lambda state: _set_eom(state, True),
    "unset_eom": lambda state: _set_eom(state, False),
    "is_full": lambda state: len(state.payload.input) >= state.payload.bufsize > 0,
    "may_recv": lambda state: not state.payload.input_closed,
}


class LuaPayload:
    """A Lua filter's response payload stage, as a body filter of the transaction's chain.

    The filter instance and its message stay on the Lua side (the driver's
    table, keyed by the TXN object and the filter's *slot*): Lua objects made
    inside a Lua coroutine must not outlive it in Python.  A Lua error or
    timeout aborts the response (FilterAborted): the client never gets a body
    the filter did not see.
    """

    __slots__ = ("bodiless", "engine", "finish", "label", "payload", "slot", "state", "txn")

    def __init__(self, engine: Any, label: str, txn: Any, state: MessageState, slot: int, driver: Any) -> None:
        self.bodiless = state.side == "res" and response_framing(txn.response, txn.request.method)[0].kind is NONE
        """A HEAD answer, 204 or 304: whatever the filter writes has nowhere to go."""
        self.engine = engine
        self.label = label
        self.txn = txn
        self.state = state
        self.slot = slot
        self.payload = driver.payload
        self.finish = driver.finish

    def data(self, data: bytes) -> bytes:
        chn = self.state.payload
        chn.input += data
        hold = self._run(self.payload) == WAIT and len(chn.input) < chn.bufsize
        return self._output(hold)

    def end(self) -> bytes:
        self.state.payload.input_closed = True
        self._run(self.payload)
        out = self._output(False)
        self._run(self.finish)
        return out

    def _output(self, hold: bool) -> bytes:
        chn = self.state.payload
        if not hold:
            chn.forward(len(chn.input))
        out = bytes(chn.output)
        chn.output.clear()
        return b"" if self.bodiless else out

    def _run(self, function: Any) -> Any:
        engine = self.engine
        run = Run(Context.ACTION, self.label, self.txn, engine.limits.session_timeout)
        result = runner.run(engine.runtime, function, run, engine.txn_object(self.txn), self.slot,
                            forced_yield=engine.limits.forced_yield)
        if result.outcome is runner.Outcome.TIMEOUT or result.outcome is runner.Outcome.ERROR:
            runner.log_failure(engine.logger, f"Lua filter '{self.label}'", result)
            raise FilterAborted(self.label)
        return result.values[0] if result.values else None


def attach_payload(engine: Any, label: str, state: MessageState, slot: int, driver: Any) -> bool:
    """The driver's ``attach``: the filter's payload stage joins the message's body filters, which leave
    chunked (the filter may change the body's length; an HTTP/1.0 response ends by closing).  A request
    without a body, or in HTTP/1.0 (which cannot be chunked), is not filtered: False, and the driver ends
    the filter's request side at once."""
    txn = state.txn
    if state.side == "req":
        request = txn.request
        if request_framing(request)[0].kind is NONE or not at_least_http11(request.version):
            return False
        state.payload.bufsize = txn.req.bufsize
        reframe(request)
        filters_of(txn).request_body.append(LuaPayload(engine, label, txn, state, slot, driver))
        return True
    state.payload.bufsize = txn.res.bufsize
    reframe(txn.response)
    filters_of(txn).body.append(LuaPayload(engine, label, txn, state, slot, driver))
    return True
