"""The Channel class: the request or response buffer of a TCP transaction.

Both the spec's names and HAProxy's later ones are here (``get_line`` =
``getline``, ``get_in_length`` = ``get_in_len``, ``get_out_length`` =
``get_out_len``), and 2.2+'s ``data``/``line``/``remove``/``insert``/``set``
with offsets.  Offsets count from the start of the input (negative: from its
end), a length of -1 means "as much as a buffer holds", and in an action a
read that wants more than is there waits for it, as haproxy 2.6 does; in a
fetch or converter it returns what is there.  Old reads follow 2.6 too:
``dup``/``get`` return what is there now ("" when empty), ``getline`` waits for
a whole line, and all three return nil once the peer has closed and nothing is
left.  In HTTP mode only ``input``, ``output``, ``may_recv``, ``is_full`` and
``is_resp`` of the 2.2+ methods work, as in haproxy 2.6.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

from . import checks, contexts
from .errors import LuaApiError
from .txn import transaction


def _readable(channel: Any, function: str) -> Any:
    if not channel.readable:
        side = "response" if channel.name == "res" else "request"
        raise LuaApiError(f"{function}: the {side} channel cannot be read from this action")
    return channel


def _stream(channel: Any, function: str) -> Any:
    """A channel whose bytes Lua may touch: readable, and not HTTP (haproxy 2.6's refusal)."""
    if channel.http:
        raise LuaApiError("Cannot manipulate HAProxy channels in HTTP mode.")
    return _readable(channel, function)


def _closed_and_empty(channel: Any) -> bool:
    return channel.input_closed and not channel.input


def _offset(channel: Any, value: Any, function: str) -> int:
    if value is None:
        return 0
    offset = checks.integer(value, function, 2)
    if offset < 0:
        offset = max(0, len(channel.input) + offset)
    if offset > len(channel.input):
        raise LuaApiError("offset out of range.")
    return offset


def _length(channel: Any, value: Any, offset: int, function: str, position: int = 3) -> int:
    """The length asked: the rest of the input by default, a whole buffer for -1."""
    if value is None:
        return len(channel.input) - offset
    length = checks.integer(value, function, position)
    if length == -1:
        return channel.bufsize
    if length < 0:
        raise LuaApiError("length out of range.")
    return length


def may_receive(channel: Any) -> bool:
    return not channel.input_closed and not channel.full


def _wait(channel: Any, satisfied: Callable[[], bool], function: str) -> None:
    """In an action, wait until *satisfied* or no more can come; elsewhere (fetches) never wait."""
    run = contexts.current()
    if run.context not in contexts.RUNTIME or satisfied() or not may_receive(channel):
        return
    with run.blocking():
        channel.wait_for(lambda: satisfied() or not may_receive(channel))


def data(channel: Any, offset: Any = None, length: Any = None) -> bytes | None:
    _stream(channel, "data")
    start = _offset(channel, offset, "data")
    size = _length(channel, length, start, "data")
    if size:
        _wait(channel, lambda: start + size <= len(channel.input), "data")
    if _closed_and_empty(channel):
        return None
    return bytes(channel.input[start : start + size])


def line(channel: Any, offset: Any = None, length: Any = None) -> bytes | None:
    _stream(channel, "line")
    start = _offset(channel, offset, "line")
    size = _length(channel, length, start, "line")

    def found() -> bool:
        return channel.input.find(b"\n", start, start + size) >= 0 or start + size <= len(channel.input)

    if size:
        _wait(channel, found, "line")
    if _closed_and_empty(channel):
        return None
    end = channel.input.find(b"\n", start, start + size)
    return bytes(channel.input[start : end + 1 if end >= 0 else start + size])


def remove(channel: Any, offset: Any = None, length: Any = None) -> int:
    _stream(channel, "remove")
    start = _offset(channel, offset, "remove")
    size = min(_length(channel, length, start, "remove"), len(channel.input) - start)
    channel.splice_input(b"", start, size)
    return size


def insert(channel: Any, text: Any, offset: Any = None) -> int:
    _stream(channel, "insert")
    payload = checks.as_bytes(text, "insert", 2)
    return channel.insert_input(payload, _offset(channel, offset, "insert") if offset is not None else 0)


def prepend(channel: Any, text: Any) -> int:
    _stream(channel, "prepend")
    return channel.insert_input(checks.as_bytes(text, "prepend", 2), 0)


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


def set(channel: Any, text: Any, offset: Any = None, length: Any = None) -> int:
    payload = checks.as_bytes(text, "set", 2)
    if offset is None and length is None:
        return channel.replace_input(payload)
    _stream(channel, "set")
    start = _offset(channel, offset, "set")
    size = min(_length(channel, length, start, "set", 4), len(channel.input) - start)
    return channel.splice_input(payload, start, size)


def append(channel: Any, text: Any) -> int:
    return channel.append_input(checks.as_bytes(text, "append", 2))


def send(channel: Any, text: Any) -> int:
    """Returns the length queued, or -1 once the peer is gone (HAProxy's "cannot send")."""
    data = text.encode("latin-1") if type(text) is str else checks.as_bytes(text, "send", 2)  # Lua's strings: str
    try:
        return channel.send(data)
    except OSError:
        return -1


def get_in_length(channel: Any) -> int:
    return len(channel.input)


def get_out_length(channel: Any) -> int:
    return len(channel.output)


def forward(channel: Any, size: Any) -> int:
    """Forward *size* bytes; in an action, wait for the bytes not there yet (2.6), until the peer closes."""
    wanted = checks.integer(size, "forward", 2)
    moved = 0
    try:
        while True:
            moved += channel.forward(wanted - moved)
            if moved >= wanted or channel.http:
                return moved
            before = moved
            _wait(channel, lambda: bool(channel.input), "forward")
            if not channel.input and before == moved:
                return moved
    except OSError:
        return -1


def is_full(channel: Any) -> bool:
    return bool(channel.full)


def is_resp(channel: Any) -> bool:
    return channel.name == "res"


def may_recv(channel: Any) -> bool:
    return may_receive(channel)


FUNCTIONS = {
    "data": data,
    "line": line,
    "remove": remove,
    "insert": insert,
    "prepend": prepend,
    "dup": dup,
    "get": get,
    "get_line": get_line,
    "set": set,
    "append": append,
    "send": send,
    "get_in_length": get_in_length,
    "get_out_length": get_out_length,
    "forward": forward,
    "is_full": is_full,
    "is_resp": is_resp,
    "may_recv": may_recv,
}
ALIASES = {"getline": "get_line", "get_in_len": "get_in_length", "get_out_len": "get_out_length",
           "input": "get_in_length", "output": "get_out_length"}


def functions_of(side: str) -> dict[str, Callable[..., Any]]:
    """The methods of a transaction's *side* channel ("req" or "res"): a Channel object holds its transaction
    and each method takes the channel from it, so ``txn.req``/``txn.res`` cost no call into Python (most
    uses of a channel call one or two methods)."""
    channel_of = operator.attrgetter(side)

    def on_side(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def method(txn: Any, *args: Any) -> Any:
            return function(channel_of(transaction(txn)), *args)
        return method

    return {name: on_side(function) for name, function in FUNCTIONS.items()}
