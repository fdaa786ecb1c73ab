"""The HTTP cache's store: entries by primary key (host and URI), LRU, bounded in bytes.

Each worker process holds its own store for each ``cache`` section (HAProxy's
is shared by its threads; luaproxy's workers are processes, and a shared one
would need cross-process locking on every request).  Memory is bounded per
worker by ``total-max-size``: storing past it evicts the least recently used
entries, and no entry may exceed ``max-object-size``.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..http.message import Headers, ResponseHead
from .vary import VaryKey, accepted_encodings, matches

BLOCK = 1024
"""HAProxy's cache block size: ``show cache`` counts in blocks."""
ENTRY_OVERHEAD = 256
"""Bytes an entry is counted for on top of its head and body (its bookkeeping)."""


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """One ``cache`` section, as parsed."""

    name: str
    total_size: int  # bytes
    max_object_size: int  # bytes
    max_age: int  # seconds
    process_vary: bool = False
    max_secondary: int = 10


@dataclass(slots=True)
class Entry:
    """One stored response: its head as it was stored, its whole body, when it expires."""

    head: ResponseHead
    body: bytes
    created: float
    expires: float
    vary: VaryKey | None = None
    size: int = 0

    @property
    def age(self) -> int:
        return max(int(time.time() - self.created), 0)


def head_size(head: ResponseHead) -> int:
    return sum(len(n) + len(v) + 4 for n, v in head.headers) + len(head.reason) + 16


@dataclass(slots=True, eq=False)
class Cache:
    settings: CacheSettings
    entries: OrderedDict[str, list[Entry]] = field(default_factory=OrderedDict)
    used: int = 0

    @property
    def name(self) -> str:
        return self.settings.name

    def lookup(self, key: str, request: Headers) -> Entry | None:
        """A fresh entry for this request, or None (expired entries are dropped on the way)."""
        stored = self.entries.get(key)
        if not stored:
            return None
        now = time.time()
        for entry in [e for e in stored if e.expires <= now]:
            self._remove(key, entry)
        accepted: frozenset[str] | bool | None = False
        for entry in self.entries.get(key, ()):
            if entry.vary is None:
                self.entries.move_to_end(key)
                return entry
            if accepted is False:
                accepted = accepted_encodings(request)
            if matches(entry.vary, request, accepted):  # type: ignore[arg-type]
                self.entries.move_to_end(key)
                return entry
        return None

    def store(self, key: str, entry: Entry) -> None:
        """Add *entry*, replacing one with the same variant; evict the least recently used to fit."""
        entry.size = len(entry.body) + head_size(entry.head) + ENTRY_OVERHEAD
        stored = self.entries.setdefault(key, [])
        for old in [e for e in stored if e.vary == entry.vary or e.vary is None or entry.vary is None]:
            self._remove(key, old)
        stored = self.entries.setdefault(key, [])
        if len(stored) >= self.settings.max_secondary:
            self._remove(key, stored[0])
            stored = self.entries.setdefault(key, [])
        stored.append(entry)
        self.entries.move_to_end(key)
        self.used += entry.size
        while self.used > self.settings.total_size and self.entries:
            oldest = next(iter(self.entries))
            self._remove(oldest, self.entries[oldest][0])

    def invalidate(self, key: str) -> None:
        for entry in list(self.entries.get(key, ())):
            self._remove(key, entry)

    def _remove(self, key: str, entry: Entry) -> None:
        stored = self.entries.get(key)
        if stored is None or entry not in stored:
            return
        stored.remove(entry)
        self.used -= entry.size
        if not stored:
            del self.entries[key]

    def describe(self) -> list[str]:
        """``show cache`` lines, in HAProxy's layout: the cache (free 1 kB blocks), then each entry
        (first 32 bits of its key's SHA-1, its Vary key's hash, size, blocks, users, seconds to expiry)."""
        free = max(self.settings.total_size - self.used, 0) // BLOCK
        lines = [f"{id(self):#x}: {self.name} (shctx:{id(self.entries):#x}, available blocks:{free})\n"]
        now = time.time()
        for key, stored in self.entries.items():
            digest = int.from_bytes(hashlib.sha1(key.encode("latin-1")).digest()[:4], "big")
            for entry in stored:
                vary = hash(entry.vary) & 0xFFFFFFFFFFFFFFFF if entry.vary is not None else 0
                lines.append(f"{id(entry):#x} hash:{digest} vary:{vary:#018x} size:{entry.size} "
                             f"({-(-entry.size // BLOCK)} blocks), refcount:0, expire:{int(entry.expires - now)}\n")
        return lines


def show(proxies: Iterable[Any]) -> list[str]:
    """``show cache`` for one worker: every cache its proxies use."""
    seen: dict[int, Cache] = {}
    for proxy in proxies:
        for cache in (proxy.caches or {}).values():
            seen.setdefault(id(cache), cache)
    return [line for cache in seen.values() for line in cache.describe()]
