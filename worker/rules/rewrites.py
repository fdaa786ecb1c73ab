"""Room for header rewrites, and ``strict-mode``: what happens when a rewrite does not fit.

HAProxy keeps a message's head and the body received so far in one buffer of
``tune.bufsize`` bytes; its input stops ``tune.maxrewrite`` bytes short of
full, so rewrites have that much room at least.  A header added when the room
is gone fails: with ``strict-mode on`` (the default) the transaction ends with
a 500, with ``off`` the rewrite is skipped.  The sizes below follow HAProxy's
internal (HTX) layout: a fixed header, and per block 8 bytes plus its data.
"""

from __future__ import annotations

from typing import Any

HTX_HEADER = 40
"""The buffer's own bookkeeping, taken from its size."""
HTX_BLOCK = 8
START_LINE = 24
"""A start line's fixed part, besides its three strings."""


def header_cost(name: str, value: str) -> int:
    return HTX_BLOCK + len(name) + len(value)


def _head_size(head: Any, side: str) -> int:
    if side == "req":
        line = len(head.method) + len(head.target) + len(head.version)
    else:
        line = len(str(head.status)) + len(head.reason) + len(head.version)
    fields = sum(header_cost(name, value) for name, value in head.headers)
    return HTX_BLOCK + START_LINE + line + fields + HTX_BLOCK  # start line, headers, end of headers


class RewriteRoom:
    """Per transaction: the strict flag and the room left, per side ('req', 'res')."""

    __slots__ = ("room", "strict")

    def __init__(self) -> None:
        self.strict = {"req": True, "res": True}
        self.room: dict[str, int] = {}


def _state(txn: Any) -> RewriteRoom:
    if txn.rewrites is None:
        txn.rewrites = RewriteRoom()
    return txn.rewrites


def set_strict(txn: Any, side: str, on: bool) -> None:
    _state(txn).strict[side] = on


def fits(txn: Any, side: str, cost: int) -> bool:
    """Take *cost* bytes of the message's room; False (nothing taken) when they do not fit."""
    state = _state(txn)
    room = state.room.get(side)
    if room is None:
        stream = txn.http_stream
        if stream is None:
            return True
        bufsize, reserve = stream.worker.bufsize, stream.worker.maxrewrite
        head = txn.request if side == "req" else txn.response
        used = min(_head_size(head, side) + HTX_BLOCK + stream.buffered_body(txn, side), bufsize - reserve)
        room = bufsize - HTX_HEADER - used
    if cost > room:
        state.room[side] = room
        return False
    state.room[side] = room - cost
    return True


def strict(txn: Any, side: str) -> bool:
    return _state(txn).strict[side]
