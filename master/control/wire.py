"""The control socket's framing: length-prefixed JSON messages, no I/O.

Master and workers speak it over one socketpair per worker.  ``encode`` turns
a message into bytes; a ``Decoder`` is fed whatever the socket gave and
returns the complete messages, h11-style (bytes in, messages out).
"""

from __future__ import annotations

import json
import struct
from typing import Any

HEADER = struct.Struct("!I")
MAX_MESSAGE = 64 * 1024 * 1024

Message = dict[str, Any]


class WireError(Exception):
    """The peer sent something that is not a control message."""


def encode(message: Message) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body


class Decoder:
    """Buffers bytes and yields every complete message."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        messages: list[Message] = []
        while len(self._buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buffer)
            if size > MAX_MESSAGE:
                raise WireError(f"control message of {size} bytes is too large")
            end = HEADER.size + size
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[HEADER.size:end])
            del self._buffer[:end]
            try:
                message = json.loads(body)
            except ValueError as exc:
                raise WireError(f"unreadable control message: {exc}") from None
            if not isinstance(message, dict):
                raise WireError("control message is not an object")
            messages.append(message)
        return messages
