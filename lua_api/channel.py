"""The Channel class: the request or response buffer of a TCP transaction.

Both the spec's names and HAProxy's later ones are here (``get_line`` =
``getline``, ``get_in_length`` = ``get_in_len``, ``get_out_length`` =
``get_out_len``).  Reads follow HAProxy 2.6: ``dup``/``get`` return what is
there now ("" when empty), ``getline`` waits for a whole line, and all three
return nil once the peer has closed and nothing is left.
"""

from __future__ import annotations

from typing import Any

from . import checks, contexts
from .errors import LuaApiError


def _readable(channel: Any, function: str) -> Any:
    if not channel.readable:
        side = "response" if channel.name == "res" else "request"
        raise LuaApiError(f"{function}: the {side} channel cannot be read from this action")
    return channel


def _closed_and_empty(channel: Any) -> bool:
    return channel.input_closed and not channel.input


def dup(channel: Any) -> bytes | None:
    _readable(channel, "dup")
    return None if _closed_and_empty(channel) else bytes(channel.input)


def get(channel: Any) -> bytes | None:
    _readable(channel, "get")
    return None if _closed_and_empty(channel) else channel.take()


def get_line(channel: Any) -> bytes | None:
    _readable(channel, "getline")
    contexts.require("Channel.getline", contexts.RUNTIME)
    channel.wait_input(need_line=True)
    return None if _closed_and_empty(channel) else channel.take_line()


def set(channel: Any, data: Any) -> int:
    return channel.replace_input(checks.as_bytes(data, "set", 2))


def append(channel: Any, data: Any) -> int:
    return channel.append_input(checks.as_bytes(data, "append", 2))


def send(channel: Any, data: Any) -> int:
    """Returns the length queued, or -1 once the peer is gone (HAProxy's "cannot send")."""
    try:
        return channel.send(checks.as_bytes(data, "send", 2))
    except OSError:
        return -1


def get_in_length(channel: Any) -> int:
    return len(channel.input)


def get_out_length(channel: Any) -> int:
    return len(channel.output)


def forward(channel: Any, size: Any) -> int:
    try:
        return channel.forward(checks.integer(size, "forward", 2))
    except OSError:
        return -1


FUNCTIONS = {
    "dup": dup,
    "get": get,
    "get_line": get_line,
    "set": set,
    "append": append,
    "send": send,
    "get_in_length": get_in_length,
    "get_out_length": get_out_length,
    "forward": forward,
}
ALIASES = {"getline": "get_line", "get_in_len": "get_in_length", "get_out_len": "get_out_length"}
