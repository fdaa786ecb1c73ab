"""The TXN class: one transaction as Lua sees it.

The state is the worker's transaction object; ``close``/``done`` are written
in Lua (prelude) because they must unwind the running coroutine.
"""

from __future__ import annotations

from typing import Any

from luaproxy.worker.access_log import lua_log
from luaproxy.worker.http.pages import BODILESS, Reply
from luaproxy.worker.samples import SampleError, parse_var_name
from luaproxy.worker.txn import handles

from . import checks
from .errors import LuaApiError

CHECKED_NAMES_KEPT = 4096
"""How many checked variable names var_name remembers (scripts use a few; a script making names
from request data must not grow the cache without bound)."""
checked_names: dict[str, Any] = {}


ENDED = "this TXN's transaction has ended (a TXN object is only valid during its transaction)"


def transaction(state: Any) -> Any:
    """The transaction of a TXN object or of one of its parts (txn.f, txn.req, txn.http...) from its slot 0,
    where Lua holds the transaction's handle (worker.txn.handle_of), or an object that stands for it (a
    health check's context, a TCP filter's view of a channel, an applet's transaction) which is taken as it is.
    A handle whose transaction ended (a TXN a script kept) is a Lua error."""
    if type(state) is not int:
        return state
    try:
        return handles[state]
    except KeyError:
        raise LuaApiError(ENDED) from None


def var_name(name: Any, function: str) -> Any:
    """The checked variable name, or None for an invalid one (haproxy 2.6 then returns false/nil).
    A name seen before is not parsed again (set_var/get_var run on every request)."""
    if isinstance(name, str):
        known = checked_names.get(name)
        if known is not None:
            return known
    try:
        checked = parse_var_name(checks.string(name, function, 2))
    except SampleError:
        return None
    if isinstance(name, str) and len(checked_names) < CHECKED_NAMES_KEPT:
        checked_names[name] = checked
    return checked


def log(txn: Any, level: Any, message: Any) -> None:
    txn = transaction(txn)
    level = checks.integer(level, "log", 2)
    if not 0 <= level <= 7:
        raise LuaApiError(f"bad argument #2 to 'log' (log level {level} out of range 0..7)")
    lua_log(txn, level, checks.string(message, "log", 3))


def deflog(txn: Any, message: Any) -> None:
    """At the level set_loglevel gave, as haproxy 2.6 does; info before (2.6 says emerg)."""
    txn = transaction(txn)
    level = txn.loglevel if txn.loglevel is not None else txn.default_loglevel
    lua_log(txn, level, checks.string(message, "deflog", 2))


def _at(level: int, name: str):
    def send(txn: Any, message: Any) -> None:
        lua_log(transaction(txn), level, checks.string(message, name, 2))

    send.__name__ = name
    return send


def get_priv(holder: Any) -> Any:
    """The private Lua value of a TXN, an AppletHTTP or an AppletTCP (each keeps its own)."""
    return transaction(holder).priv


def set_priv(holder: Any, data: Any) -> None:
    transaction(holder).priv = data


def set_loglevel(txn: Any, level: Any) -> None:
    level = checks.integer(level, "set_loglevel", 2)
    if not 0 <= level <= 7:
        raise LuaApiError(f"bad argument #2 to 'set_loglevel' (log level {level} out of range 0..7)")
    transaction(txn).loglevel = level


def set_tos(txn: Any, tos: Any) -> None:
    transaction(txn).set_tos(checks.integer(tos, "set_tos", 2))


def set_mark(txn: Any, mark: Any) -> None:
    transaction(txn).set_mark(checks.integer(mark, "set_mark", 2))


def mark_done(txn: Any, status: int | None = None, reason: str | None = None, headers: Any = None,
              body: str = "") -> None:
    """txn:done([reply]): the reply (HTTP only, as in HAProxy) goes out instead of the response."""
    txn = transaction(txn)
    txn.done = True
    if status is not None and txn.http_mode:
        flat = [str(v) for v in headers.values()] if headers is not None else []
        payload = body.encode("latin-1")
        fields = [(name.lower(), value) for name, value in zip(flat[::2], flat[1::2], strict=True)
                  if name.lower() not in ("content-length", "transfer-encoding")]
        if status not in BODILESS:
            fields.append(("content-length", str(len(payload))))
        txn.reply = Reply(status, fields, payload, reason=reason)


def unset_var(txn: Any, name: Any) -> bool:
    """True for any valid name, set or not (as haproxy 2.6); false for an invalid one."""
    var = var_name(name, "unset_var")
    if var is None:
        return False
    transaction(txn).vars.unset(var)
    return True


def set_priority_class(txn: Any, value: Any) -> None:
    transaction(txn).priority_class = min(max(checks.integer(value, "set_priority_class", 2), -2047), 2047)


def set_priority_offset(txn: Any, value: Any) -> None:
    transaction(txn).priority_offset = min(max(checks.integer(value, "set_priority_offset", 2), -524287), 524287)


FUNCTIONS = {
    "log": log,
    "deflog": deflog,
    "Debug": _at(7, "Debug"),
    "Info": _at(6, "Info"),
    "Warning": _at(4, "Warning"),
    "Alert": _at(1, "Alert"),
    "get_priv": get_priv,
    "set_priv": set_priv,
    "set_loglevel": set_loglevel,
    "set_tos": set_tos,
    "set_mark": set_mark,
    "unset_var": unset_var,
    "set_priority_class": set_priority_class,
    "set_priority_offset": set_priority_offset,
}
