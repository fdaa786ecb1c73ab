"""The server keys a table stores (``server_key``): strings in shared memory, named by a number.

HAProxy keeps one dictionary of server names and addresses and stores a
pointer in each entry; luaproxy's entries are fixed-width words shared by
processes, so an entry stores the entry number of its string in this
dictionary instead.  Strings are only added (a table stores the keys of the
servers it has seen, its own and its peers'), up to ``SLOTS``; a string that
does not fit is not stored, and the entry keeps its ``server_id`` only.
Numbers never change meaning, so each process caches both directions.
"""

from __future__ import annotations

import mmap
import multiprocessing

SLOTS = 1024
MAX_LEN = 255
_SLOT_WORDS = 1 + (MAX_LEN + 1) // 8  # the length, then the bytes


class ServerKeys:
    """An append-only shared dictionary of strings, numbered from 1 (0: no string)."""

    def __init__(self, slots: int = SLOTS) -> None:
        self.slots = slots
        self._map = mmap.mmap(-1, (1 + slots * _SLOT_WORDS) * 8, flags=mmap.MAP_SHARED)
        self.q = memoryview(self._map).cast("q")
        self.lock = multiprocessing.Lock()
        self._ids: dict[bytes, int] = {}
        self._texts: dict[int, bytes] = {}
        self._seen = 0  # how many slots this process has read into its caches

    def _read_new(self) -> None:
        """Bring this process's caches up to the shared count."""
        count = self.q[0]
        for number in range(self._seen + 1, count + 1):
            base = 1 + (number - 1) * _SLOT_WORDS
            start = (base + 1) * 8
            text = bytes(self._map[start : start + self.q[base]])
            self._ids.setdefault(text, number)
            self._texts[number] = text
        self._seen = count

    def id_of(self, text: bytes) -> int:
        """The number of *text*, added if new; 0 when it is too long or the dictionary is full."""
        found = self._ids.get(text)
        if found is not None:
            return found
        if len(text) > MAX_LEN:
            return 0
        with self.lock:
            self._read_new()
            found = self._ids.get(text)
            if found is not None:
                return found
            count = self.q[0]
            if count >= self.slots:
                return 0
            base = 1 + count * _SLOT_WORDS
            self.q[base] = len(text)
            start = (base + 1) * 8
            self._map[start : start + len(text)] = text
            self.q[0] = count + 1
            self._read_new()
            return count + 1

    def text_of(self, number: int) -> bytes | None:
        """The string numbered *number*, None for 0 or an unknown number."""
        if not number:
            return None
        found = self._texts.get(number)
        if found is None and number <= self.q[0]:
            with self.lock:
                self._read_new()
            found = self._texts.get(number)
        return found
