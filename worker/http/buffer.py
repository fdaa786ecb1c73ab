"""Received bytes waiting to be parsed.

Heads may arrive one byte at a time, so the buffer remembers how far the last
search for a line end went and never rescans those bytes.
"""

from __future__ import annotations

import re

_BLANK_LINE = re.compile(rb"\n\r?\n")


class ReceiveBuffer:
    """A byte queue with the line searches the readers need."""

    __slots__ = ("_data", "_searched")

    def __init__(self) -> None:
        self._data = bytearray()
        self._searched = 0

    def __iadd__(self, data: bytes) -> ReceiveBuffer:
        self._data += data
        return self

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def __bytes__(self) -> bytes:
        return bytes(self._data)

    def take(self, count: int) -> bytes:
        """Remove and return up to *count* bytes."""
        out = bytes(self._data[:count])
        del self._data[:count]
        self._searched = 0
        return out

    def take_all(self) -> bytes:
        return self.take(len(self._data))

    def peek(self, count: int) -> bytes:
        """The first *count* bytes, left in place."""
        return bytes(self._data[:count])

    def startswith(self, prefix: bytes) -> bool:
        return self._data.startswith(prefix)

    def skip_blank_lines(self) -> None:
        """Drop empty lines before a start line, as HAProxy does."""
        start = 0
        while True:
            if self._data.startswith(b"\n", start):
                start += 1
            elif self._data.startswith(b"\r\n", start):
                start += 2
            else:
                break
        if start:
            self.take(start)

    def take_line(self) -> bytes | None:
        """Remove and return one line with its LF, or None until it is complete."""
        end = self._data.find(b"\n", self._searched)
        if end < 0:
            self._searched = len(self._data)
            return None
        return self.take(end + 1)

    def take_head(self) -> bytes | None:
        """Drop empty lines before a start line, then take the head up to and including its empty line, or None."""
        if self._data.startswith((b"\n", b"\r\n")):
            self.skip_blank_lines()
        return self._take_through_blank_line()

    def take_block(self) -> bytes | None:
        """Remove and return lines up to and including an empty one, or None."""
        if self._data.startswith(b"\n"):
            return self.take(1)
        if self._data.startswith(b"\r\n"):
            return self.take(2)
        return self._take_through_blank_line()

    def _take_through_blank_line(self) -> bytes | None:
        """Lines up to and including the first empty one, searching only bytes not searched before."""
        match = _BLANK_LINE.search(self._data, max(0, self._searched - 2))
        if match is None:
            self._searched = len(self._data)
            return None
        return self.take(match.end())
