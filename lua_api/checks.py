"""Argument checks worded as Lua's own (``bad argument #2 to 'send' (string expected)``)."""

from __future__ import annotations

from typing import Any

from .errors import LuaApiError
from .lua54 import lupa


def lua_type(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str | bytes):
        return "string"
    return lupa.lua_type(value) or "userdata"


def string(value: Any, function: str, position: int) -> str:
    """A Lua string argument; numbers are accepted and converted, as luaL_checkstring does."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else repr(value)
    raise _expected("string", value, function, position)


def as_bytes(value: Any, function: str, position: int) -> bytes:
    return string(value, function, position).encode("latin-1")


def _expected(what: str, value: Any, function: str, position: int) -> LuaApiError:
    return LuaApiError(f"bad argument #{position} to '{function}' ({what} expected, got {lua_type(value)})")


def integer(value: Any, function: str, position: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _expected("number", value, function, position)
    try:
        number = float(value)
    except ValueError:
        raise LuaApiError(f"bad argument #{position} to '{function}' (number expected, got string)") from None
    if not number.is_integer():
        raise LuaApiError(f"bad argument #{position} to '{function}' (number has no integer representation)")
    return int(number)


def number(value: Any, function: str, position: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _expected("number", value, function, position)
    return float(value)


def function(value: Any, name: str, position: int) -> Any:
    if lua_type(value) != "function":
        raise _expected("function", value, name, position)
    return value
