"""Received bytes waiting to be parsed.

Heads may arrive one byte at a time, so the buffer remembers how far the last
search for a line end went and never rescans those bytes.  It is a bytearray
itself, so appending, ``len`` and truth tests cost no Python call.
"""

from __future__ import annotations

import re

from .errors import LocalProtocolError

_BLANK_LINE = re.compile(rb"\n\r?\n")


class ReceiveBuffer(bytearray):
    """A byte queue with the line searches the readers need."""

    __slots__ = ("searched",)

    def __init__(self) -> None:
        super().__init__()
        self.searched = 0
        """How far the last search for a line end went (0: none since the last take).  A head reader may
        match a buffer not searched yet as a whole, once: a head that arrives in pieces is searched as it
        grows, never matched again on each piece."""

    def take(self, count: int) -> bytes:
        """Remove and return up to *count* bytes (none: ``b""``)."""
        out = bytes(self[:count])
        del self[:count]
        self.searched = 0
        return out

    def take_all(self) -> bytes:
        return self.take(len(self))

    def skip_blank_lines(self) -> None:
        """Drop empty lines before a start line, as HAProxy does."""
        start = 0
        while True:
            if self.startswith(b"\n", start):
                start += 1
            elif self.startswith(b"\r\n", start):
                start += 2
            else:
                break
        if start:
            self.take(start)

    def take_line(self) -> bytes | None:
        """Remove and return one line with its LF, or None until it is complete."""
        end = self.find(b"\n", self.searched)
        if end < 0:
            self.searched = len(self)
            return None
        return self.take(end + 1)

    def take_head(self, limit: int) -> str | None:
        """Drop empty lines before a start line, then take the head through its empty line, as latin-1 text.

        None until the head is complete; a head (or a wait for one) longer than *limit* bytes raises.
        """
        if self.startswith((b"\n", b"\r\n")):
            self.skip_blank_lines()
        searched = self.searched
        match = _BLANK_LINE.search(self, searched - 2 if searched > 2 else 0)
        if match is None:
            if len(self) > limit:
                raise LocalProtocolError("message head too large")
            self.searched = len(self)
            return None
        end = match.end()
        if end > limit:
            raise LocalProtocolError("message head too large")
        text = self[:end].decode("latin-1")
        del self[:end]
        self.searched = 0
        return text

    def take_block(self) -> bytes | None:
        """Remove and return lines up to and including an empty one, or None."""
        if self.startswith(b"\n"):
            return self.take(1)
        if self.startswith(b"\r\n"):
            return self.take(2)
        match = _BLANK_LINE.search(self, max(0, self.searched - 2))
        if match is None:
            self.searched = len(self)
            return None
        return self.take(match.end())
