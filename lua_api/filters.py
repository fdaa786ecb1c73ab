"""core.register_filter and ``filter lua.NAME args``: HAProxy 2.6's Lua filters, headers stage.

A filter's callbacks run as the last rule of its proxy's ``http-request``
(request side) and ``http-response`` (response side) rules, which is where
haproxy 2.6 calls ``http_headers`` (after the rules, before the payload).  For
each side and transaction the filter instance (``Flt:new()``, once per
transaction) sees ``start_analyze``, ``http_headers`` and ``http_end``; the
request's ``end_analyze`` comes after the response's headers, as in haproxy
2.6, then the response's, with an HTTPMessage whose header and start-line
methods edit the one message model.  luaproxy streams bodies without handing
them to Lua filters: ``http_payload`` and ``tcp_payload`` are not called, and
the HTTPMessage payload methods see an empty, finished message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import checks
from .errors import LuaApiError
from .http import headers_table

CONSTANTS = {"CONTINUE": 1, "WAIT": 0, "ERROR": -1, "FLT_CFG_FL_HTX": 1}

DRIVER = """
local per_txn = setmetatable({}, {__mode = "k"})
local ERROR = -1
return function(conf, side, new_message)
   return function(txn)
      local instances = per_txn[txn]
      if instances == nil then
         instances = {}
         per_txn[txn] = instances
      end
      local flt = instances[conf]
      if flt == nil then
         flt = conf.new(conf)
         if flt == nil then return end
         instances[conf] = flt
      end
      local chn = side == "res" and txn.res or txn.req
      local msg = new_message(txn, side, chn)
      rawset(txn, side == "res" and "http_res" or "http_req", msg)
      local failed = false
      if flt.start_analyze then flt:start_analyze(txn, chn) end
      if flt.http_headers and flt:http_headers(txn, msg) == ERROR then failed = true end
      if side == "res" and flt.end_analyze then flt:end_analyze(txn, txn.req) end
      if flt.http_end and flt:http_end(txn, msg) == ERROR then failed = true end
      if side == "res" and flt.end_analyze then flt:end_analyze(txn, chn) end
      if failed then return act.ERROR end
   end
end
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

    def refused(state: MessageState, *args: Any) -> int:
        return -1

    def nothing(state: MessageState, *args: Any) -> int:
        return 0

    def body(state: MessageState, offset: Any = None, length: Any = None) -> str:
        if offset is not None:
            checks.integer(offset, "body", 2)
        return ""

    functions: dict[str, Any] = {
        "get_headers": lambda state: headers_table(runtime, state.message.headers),
        "get_stline": lambda state: get_stline(runtime, state),
        "is_resp": lambda state: state.side == "res",
        "set_status": set_status,
        "input": nothing, "output": nothing, "forward": nothing, "remove": nothing,
        "is_full": lambda state: False, "may_recv": lambda state: False, "eom": lambda state: True,
        "set_eom": lambda state: None, "unset_eom": lambda state: None, "body": body,
        "append": refused, "prepend": refused, "insert": refused, "set": refused, "send": refused,
    }
    for name in ("add_header", "del_header", "set_header", "rep_header", "rep_value"):
        functions[name] = on_side(name)
    for name in ("set_method", "set_path", "set_query", "set_uri"):
        functions[name] = request_only(name)
    return functions
