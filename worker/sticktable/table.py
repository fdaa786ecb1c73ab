"""A stick table in shared memory, exact across worker processes.

Design (measured with ``benchmarks/bench_sticktable_design.py`` on the shared,
loaded 2-core build machine, Python 3.11, µs per operation):

* HAProxy's threads share one table; luaproxy's workers are processes.  The
  options were (a) the master owns the table and workers ask it over their
  socketpair: 12 to 30 µs per round trip before any work, over budget, and the
  master's loop would become the bottleneck; (b) per-worker counter columns
  that readers sum (0.08 µs to write, 0.2 µs to sum 8 columns), but the key
  index still needs a lock, a reader's sum races with other writers, and
  memory grows with nbproc; (c) one shared table, every operation under one
  lock.  A POSIX semaphore (``multiprocessing.Lock``) plus the update costs
  0.28 µs, an ``fcntl`` record lock 1.5 µs, ``flock`` 1.1 µs.  (c) with the
  semaphore is both fast and exact (an increment and the read that follows
  see every worker's events), so that is the choice.  Tracking a key, reading
  its rate and releasing it costs about 3 µs in all
  (``benchmarks/bench_sticktable.py``).
* The memory is one anonymous ``MAP_SHARED`` mapping made by the master
  before it forks: respawned workers inherit it, and a reload hands the same
  mapping to the new generation when the table's declaration did not change
  (``TableStore.carry_over``).  Pages are only touched when used, so an empty
  1,000,000-entry table costs nothing until filled.
* Layout, in 64-bit words: a header (the pid that took the lock last, used count, LRU head and
  tail, free list, high-water mark), a bucket array (a power of two ≥ size,
  chained through the entries), then ``size`` fixed-width entries: hash chain,
  LRU links, expiry date, reference count, hash, key length, local update id
  (what the peers agent pushes: ``changed_since``), generation (a number given
  at insert, 0 once removed: a connection tracking the same key again hands
  back the entry it tracked last, and the lookup is skipped while the
  generation matches), the key bytes,
  then one word per counter/tag/server id and three per frequency counter
  (HAProxy's ``curr_tick``, ``curr_ctr``, ``prev_ctr``), an array (``gpc(3)``)
  as that many of them, and ``server_key`` as the number of its string in the
  table's shared dictionary of server keys (``dictionary.py``).  Keeping HAProxy's
  own three words makes entries exportable and mergeable for a peers protocol.
* The per-request operations (``tracker``, ``untracker``, ``reader``) are
  closures made once per table with its layout in their cells: on Python 3.11
  a closure's variable costs a fraction of an attribute read, and the
  request path reads dozens of them.  They hold the lock's ``acquire`` and
  ``release`` themselves (``multiprocessing.Lock`` keeps them in its instance
  dict: looking them up cost about 400 machine instructions a hold).
* Expiry dates are ``CLOCK_MONOTONIC`` milliseconds, the same clock in every
  process.  Every touch moves an entry to the LRU head; since the expiry delay
  is the same for the whole table, the LRU tail is also the next to expire, so
  purging expired entries and evicting at ``size`` both work from the tail
  (entries still tracked by a connection are skipped, as HAProxy does).  A
  tail's expiry date only grows (a later touch, or a removal leaving a later
  tail), so tracking reads it again only once that date has come.
* A worker killed while it holds the lock would block the others: the holder's
  pid sits in the header (written when it takes the lock, left there when it
  releases it: a write less per hold), and a waiter that times out twice on
  the same dead holder frees the lock.
* A worker killed while it tracks entries would keep their ``conn_cur`` up and
  their references held (an entry referenced never expires) for good.  So each
  tracking process claims a *column* (its owner's pid, written once: a
  column is freed by ``reclaim`` when its owner dies, whether it held
  something or not) and each entry has one word per column: what that process holds on
  it (references in the low 24 bits, counted connections above: a word for a
  few connections stays a small Python int, cheaper to add to).
  An entry's references and ``conn_cur`` are its own word (what processes
  without a column hold, and ``set table``'s offset) plus the sum of its
  column words, so what a process holds is written in its column only.  Only
  that process writes its column while it lives, so it drops what it held at
  a stream's end without the lock (the expiry pushed back first, then the
  reference; the entry keeps the LRU place its tracking gave it), unless bytes
  are counted or a peers section shares the table: one lock hold per request
  instead of two.  When a process dies, ``reclaim(pid)`` gives its column
  back: it reads the column without the lock (only its dead owner wrote it),
  then zeroes the words it finds, a batch of entries per lock hold, so the
  other workers wait at most one batch.  There are ``columns`` columns (the
  master asks for twice ``nbproc``, room for a reload's overlap); a process
  that finds none free tracks without one, in the entries' own words.
"""

from __future__ import annotations

import math
import mmap
import multiprocessing
import os
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from .dictionary import ServerKeys
from .schema import ARRAYS, DATA_KINDS, EVENTS, LEGACY, Kind, TableSpec

_HEADER = 8
_H_HOLDER, _H_USED, _H_HEAD, _H_TAIL, _H_FREE, _H_HIGH, _H_UPD, _H_GEN = range(8)
# Entry words: hash chain, LRU previous (towards the head), LRU next, expiry, refs, hash + 1, key length,
# local update id (the table's update counter when a worker last changed it; 0: learnt from a peer),
# generation (a number no other entry had, given when the key was inserted; 0 once removed).
_NEXT, _PREV, _LNEXT, _EXP, _REF, _HASH, _KLEN, _UPD, _GEN = range(9)
_FIXED = 9
_LOCK_WAIT = 1.0
_COL_SHIFT = 24
_COL_CONN = 1 << _COL_SHIFT  # one counted connection in a column word (references are the low bits)
_COL_REFS = _COL_CONN - 1
_HELD_CONN = 1 + _COL_CONN  # a reference with its counted connection (below 2**30: Python's one-digit ints)
_RECLAIM_BATCH = 256  # entries given back per lock hold
_PURGE_BATCH = 32
RING_MAX = 65536


_NO_WORDS = memoryview(b"").cast("q")
_monotonic = time.monotonic
_floor = math.floor
_crc32 = zlib.crc32


def now_ms() -> int:
    """The shared clock: CLOCK_MONOTONIC in milliseconds, the same in every process.  The request path
    writes it inline as ``_floor(_monotonic() * 1000.0)``: the float seconds and ``math.floor`` cost
    about 240 machine instructions less than ``monotonic_ns() // 1_000_000`` (a division of a
    two-digit int); either is one reading of the same clock."""
    return _floor(_monotonic() * 1000.0)


def freq_read(q: memoryview, at: int, period: int, now: int) -> int:
    """HAProxy's sliding-period estimate: this period's count plus the previous one's, pro rata."""
    curr, past = q[at + 1], q[at + 2]
    remain = q[at] + period - now
    if remain < 0:
        remain += period
        if remain < 0:
            return 0
        past, curr = curr, 0
    if past <= 1 and not curr:
        return past
    return curr + past * remain // period


def freq_add(q: memoryview, at: int, period: int, now: int, inc: int) -> None:
    """Count *inc* events now, rotating the periods first when the current one is over."""
    elapsed = now - q[at]
    if elapsed >= period:
        if elapsed >= 2 * period:
            q[at + 2] = 0
            q[at] = now
        else:
            q[at + 2] = q[at + 1]
            q[at] += period
        q[at + 1] = 0
    q[at + 1] += inc


class Held:
    """An entry a process holds (tracks): its index, where its words start, its words themselves (a
    view of the table's, indexed from the entry's start: the per-request reads and writes then
    compute no offset), its generation, which the table's tracker compares to skip the lookup when
    the same key is tracked again, and where the tracking process's column word sits in it (-1:
    tracked without a column), which the untracker reads instead of the table's."""

    __slots__ = ("base", "col", "gen", "idx", "words")

    def __init__(self) -> None:
        self.idx = self.base = self.col = -1
        self.gen = 0  # none yet
        self.words: memoryview = _NO_WORDS


class SharedTable:
    """One stick table: its spec, its shared mapping and lock, and the operations on entries.

    Entries are named by their index; an index stays valid while the entry is
    referenced (tracked), which is how streams hold on to their entries.
    """

    def __init__(self, spec: TableSpec, columns: int = 2) -> None:
        self.spec = spec
        self.name = spec.name
        self.size = spec.size
        self.key_words = (spec.key_len + 7) // 8
        offsets: dict[str, int] = {}
        slots: dict[str, tuple[int, int]] = {}
        at = _FIXED + self.key_words
        for name, period in spec.data:
            offsets[name] = at
            width = 3 if DATA_KINDS[name] is Kind.RATE else 1
            if name in ARRAYS:
                for i in range(spec.elements(name)):
                    slots[f"{name}[{i}]"] = (at + i * width, period)
                slots[name] = (at, period)  # the name alone is the first element, as haproxy's CLI reads it
                at += width * spec.elements(name)
            else:
                slots[name] = (at, period)
                at += width
        for array, legacy in LEGACY.items():  # gpc0, gpc1, gpt0... read and count the array's elements
            for i, old in enumerate(legacy):
                if old not in slots and f"{array}[{i}]" in slots:
                    slots[old] = slots[f"{array}[{i}]"]
        self.offsets = offsets
        """Where each stored data type starts (an array: its first element)."""
        self.slots = slots
        """(offset, period) of each single value: plain types, array elements as ``gpc[1]`` (``gpc``
        alone is the first), and the older names an array stands for (``gpc0`` is ``gpc[0]`` in a
        table storing ``gpc``)."""
        self.columns = columns
        self.col_off = at  # one word per column, after the data
        self.entry_words = at + columns
        self.nbuckets = 1 << max(self.size - 1, 1).bit_length()
        self.mask = self.nbuckets - 1
        self.entries_at = _HEADER + self.nbuckets
        self.ring_at = self.entries_at + self.size * self.entry_words
        self.ring_size = min(max(self.size, 1024), RING_MAX)
        self.cols_at = self.ring_at + self.ring_size  # per column: its owner's pid
        total = (self.cols_at + columns) * 8
        self.memory_bytes = total
        self._map = mmap.mmap(-1, total, flags=mmap.MAP_SHARED)
        self.q = memoryview(self._map).cast("q")
        self.b = memoryview(self._map)
        self.lock = multiprocessing.Lock()
        self.events: dict[str, tuple[tuple[int, int], ...]] = {
            event: tuple(slots[n] for n in names if n in slots) for event, names in EVENTS.items()
        }
        for i in range(max(spec.elements("gpc") if "gpc" in offsets else 0,
                           spec.elements("gpc_rate") if "gpc_rate" in offsets else 0)):
            self.events[f"gpc[{i}]"] = tuple(slots[n] for n in (f"gpc[{i}]", f"gpc_rate[{i}]") if n in slots)
        self.server_keys = ServerKeys() if "server_key" in offsets else None
        self.expire = spec.expire_ms
        self.synced = bool(spec.peers)
        """A peers section shares the table: local changes get update ids for the peers agent to push
        (a table's declaration, peers included, never changes while its mapping lives)."""
        self.cur_off = offsets.get("conn_cur")
        self.counts_bytes = bool(self.events["bytes_in"] or self.events["bytes_out"])
        self._col_pid = 0  # the process _colw belongs to (a forked child claims its own)
        self._colw = -1  # where this process's column's word sits in an entry (-1: no column)
        self._trackers: dict[tuple[tuple[str, ...], bool, str], Callable[[bytes, Held], int]] = {}
        self._untrackers: dict[bool, Callable[[Held, int, int], None]] = {}
        self.readers: dict[str, Callable[[int], int] | None] = {}
        """``reader``'s functions by name, for a fetch to look up without a call."""
        self.drop = self.untracker()
        """``untrack`` of a tracked connection: what a stream's end runs for each counter it tracked."""

    # Locking.

    def acquire(self) -> None:
        if not self.lock.acquire(True, _LOCK_WAIT):
            self._recover()
        self.q[_H_HOLDER] = _PID[0]

    def release(self) -> None:
        self.lock.release()

    def _recover(self) -> None:
        """The lock stayed taken: if its holder died, take it over; else wait for it.

        The holder word is written when the lock is taken, never cleared (a write less per hold), so
        it may name a process that released the lock and died since, while the lock's real holder
        has not written its pid yet: a dead pid counts only when it is still there after a second
        wait, which no live holder spends between taking the lock and writing its pid (the caller
        waited once already)."""
        suspect = self.q[_H_HOLDER]
        while not self.lock.acquire(True, _LOCK_WAIT):
            holder = self.q[_H_HOLDER]
            if holder and holder == suspect and not _alive(holder):
                self.lock.release()
            suspect = holder

    # Entries (callers hold the lock).

    def _base(self, idx: int) -> int:
        return self.entries_at + idx * self.entry_words

    def _find(self, key: bytes, h: int) -> int:
        q, b = self.q, self.b
        ew, ea, klen = self.entry_words, self.entries_at, len(key)
        cur = q[_HEADER + (h & self.mask)]
        while cur:
            base = ea + (cur - 1) * ew
            if q[base + _HASH] == h + 1 and q[base + _KLEN] == klen:
                start = (base + _FIXED) * 8
                if b[start : start + klen] == key:
                    return cur - 1
            cur = q[base + _NEXT]
        return -1

    def _unlink_lru(self, base: int) -> None:
        q = self.q
        prev, nxt = q[base + _PREV], q[base + _LNEXT]
        if prev:
            q[self._base(prev - 1) + _LNEXT] = nxt
        else:
            q[_H_HEAD] = nxt
        if nxt:
            q[self._base(nxt - 1) + _PREV] = prev
        else:
            q[_H_TAIL] = prev

    def _push_lru(self, idx: int, base: int) -> None:
        q = self.q
        head = q[_H_HEAD]
        q[base + _PREV] = 0
        q[base + _LNEXT] = head
        if head:
            q[self._base(head - 1) + _PREV] = idx + 1
        else:
            q[_H_TAIL] = idx + 1
        q[_H_HEAD] = idx + 1

    def _touch(self, idx: int, base: int, now: int) -> None:
        if self.expire:
            self.q[base + _EXP] = now + self.expire
        if self.q[_H_HEAD] != idx + 1:
            self._unlink_lru(base)
            self._push_lru(idx, base)

    def _insert(self, key: bytes, h: int, now: int) -> int:
        q = self.q
        if q[_H_USED] >= self.size and not self._make_room(now):
            return -1
        free = q[_H_FREE]
        if free:
            idx = free - 1
            q[_H_FREE] = q[self._base(idx) + _NEXT]
        else:
            idx = q[_H_HIGH]
            q[_H_HIGH] = idx + 1
        base = self._base(idx)
        q[base : base + self.entry_words] = _zeros(self.entry_words)
        bucket = _HEADER + (h & self.mask)
        q[base + _NEXT] = q[bucket]
        q[bucket] = idx + 1
        q[base + _HASH] = h + 1
        q[base + _KLEN] = len(key)
        start = (base + _FIXED) * 8
        self.b[start : start + len(key)] = key
        q[base + _EXP] = now + self.expire if self.expire else 0
        gen = q[_H_GEN] + 1
        q[_H_GEN] = gen
        q[base + _GEN] = gen
        self._push_lru(idx, base)
        q[_H_USED] += 1
        return idx

    def _remove(self, idx: int) -> None:
        q = self.q
        base = self._base(idx)
        bucket = _HEADER + ((q[base + _HASH] - 1) & self.mask)
        cur, prev_base = q[bucket], -1
        while cur:
            cb = self._base(cur - 1)
            if cur - 1 == idx:
                if prev_base < 0:
                    q[bucket] = q[cb + _NEXT]
                else:
                    q[prev_base + _NEXT] = q[cb + _NEXT]
                break
            prev_base, cur = cb, q[cb + _NEXT]
        self._unlink_lru(base)
        q[base + _HASH] = 0
        q[base + _GEN] = 0
        q[base + _NEXT] = q[_H_FREE]
        q[_H_FREE] = idx + 1
        q[_H_USED] -= 1

    def _mark(self, base: int) -> None:
        """A local change: give the entry the next update id and log it in the ring of recent
        changes (the peers agent pushes it); nothing to do for a table no peers section shares."""
        if not self.synced:
            return
        q = self.q
        upd = q[_H_UPD] + 1
        q[_H_UPD] = upd
        q[base + _UPD] = upd
        q[self.ring_at + upd % self.ring_size] = (base - self.entries_at) // self.entry_words + 1

    def _refs(self, base: int) -> int:
        """The references on an entry: those of processes without a column, plus each column's."""
        first = base + self.col_off
        refs = self.q[base + _REF]
        for word in self.q[first : first + self.columns]:
            refs += word & _COL_REFS
        return refs

    def _col_conns(self, base: int) -> int:
        """The connections the columns count on an entry."""
        first = base + self.col_off
        conns = 0
        for word in self.q[first : first + self.columns]:
            conns += word >> _COL_SHIFT
        return conns

    def _conn_cur(self, base: int) -> int:
        """conn_cur: its word (what processes without a column count, and ``set table``'s offset) plus
        the connections the columns count."""
        return max(self.q[base + self.cur_off] + self._col_conns(base), 0)  # type: ignore[operator]

    def _expired(self, base: int, now: int) -> bool:
        exp = self.q[base + _EXP]
        return bool(exp) and exp <= now and not self._refs(base)

    def _make_room(self, now: int) -> bool:
        """At ``size``: drop the least recently used unreferenced entry (not with ``nopurge``)."""
        if self.spec.nopurge:
            return self._purge(now) > 0
        q = self.q
        cur = q[_H_TAIL]
        while cur:
            base = self._base(cur - 1)
            if not self._refs(base):
                self._remove(cur - 1)
                return True
            cur = q[base + _PREV]
        return False

    def _purge(self, now: int, limit: int = _PURGE_BATCH) -> int:
        """Remove expired entries from the LRU tail (the oldest expiry dates), at most *limit*.

        An entry released without the lock kept the LRU place its tracking gave it, behind entries
        touched since, with a later expiry: met here before an expired one, it moves to the head."""
        if not self.expire:
            return 0
        q, removed, moved = self.q, 0, 0
        cur = q[_H_TAIL]
        while cur and removed < limit:
            base = self._base(cur - 1)
            prev = q[base + _PREV]
            exp = q[base + _EXP]
            if exp > now:
                if not prev or q[self._base(prev - 1) + _EXP] > now or moved >= limit:
                    break
                self._unlink_lru(base)
                self._push_lru(cur - 1, base)
                moved += 1
                cur = prev
                continue
            if not self._refs(base):
                self._remove(cur - 1)
                removed += 1
            cur = prev
        return removed

    def _live(self, key: bytes, now: int) -> int:
        idx = self._find(key, zlib.crc32(key))
        if idx >= 0 and self._expired(self._base(idx), now):
            self._remove(idx)
            return -1
        return idx

    def _entry(self, key: bytes, now: int) -> int:
        """*key*'s live entry, created if needed, touched (caller holds the lock); -1 when the table is full."""
        idx = self._live(key, now)
        if idx < 0:
            idx = self._insert(key, zlib.crc32(key), now)
            if idx < 0:
                return -1
        self._touch(idx, self._base(idx), now)
        return idx

    # Operations (each takes the lock once).

    def track(self, key: bytes, events: tuple[str, ...] = (), connection: bool = True) -> int:
        """Find or create *key*'s entry, reference and touch it, count *events*, and with *connection*
        count one more current connection (conn_cur); -1 when the table is full."""
        held = Held()
        return held.idx if self.tracker(events, connection)(key, held) >= 0 else -1

    def tracker(self, events: tuple[str, ...] = (), connection: bool = True,
                rate: str = "") -> Callable[[bytes, Held], int]:
        """``track`` made into one function for these *events* (what a track-sc rule runs per request).

        The table's layout never changes while its mapping lives, so everything but the key is
        looked up once here and read from the closure (an attribute read costs several times a
        closure's); the lookup, the LRU move, the change mark and the frequency counters are written
        inline (each call here is paid on every request).  Made once per arguments and kept.

        The function names the entry in the *held* it is given: when *held* still names an entry of
        that generation (a connection's next request for the same key), the lookup is skipped.  It
        returns -1 when the table is full, else the value of *rate* (one of the rates these events
        count, read under the lock right after counting: ``track-sc0 src`` then ``sc_http_req_rate(0)``
        without a second call or clock read), 0 without one."""
        made = self._trackers.get((events, connection, rate))
        if made is not None:
            return made
        q, acquire, release, expire = self.q, self.lock.acquire, self.lock.release, self.expire
        layout = (self.b, self.entry_words, self.entries_at, self.mask)  # the lookup's: one cell, not four
        synced, ring_at, ring_size = self.synced, self.ring_at, self.ring_size
        held_words = _HELD_CONN if connection and self.cur_off is not None else 1
        updates = tuple(f for e in events for f in self.events[e])
        rates = tuple((off, period) for off, period in updates if period)
        plain = tuple(off for off, period in updates if not period)
        read_off, read_period = self.slots.get(rate, (0, 0))
        if rate and (read_off, read_period) not in rates:
            raise ValueError(f"'{rate}' is not a rate these events count in table '{self.name}'")
        rates = tuple(slot for slot in rates if slot != (read_off, read_period))  # the rate read: counted apart
        more = bool(synced or rates or plain)  # anything to do between the touch and the rate read
        read_curr, read_past = read_off + 1, read_off + 2
        purge_at = 0 if expire else 1 << 62  # when the LRU tail may have expired, as this process last saw it (ms)
        table = self

        def track(key: bytes, held: Held) -> int:
            nonlocal purge_at
            now = _floor(_monotonic() * 1000.0)
            if not acquire(False) and not acquire(True, _LOCK_WAIT):
                table._recover()
            q[_H_HOLDER] = _PID[0]
            try:
                if now >= purge_at:  # the expired tail, looked at once a millisecond at most
                    tail = q[_H_TAIL]
                    purge_at = q[table._base(tail - 1) + _EXP] if tail else now + 1
                    if purge_at <= now:
                        table._purge(now, 2)
                        purge_at = now + 1
                gen = held.gen
                words = held.words
                if gen and words[_GEN] == gen:  # the same entry as last time (0: none), named in this process
                    idx = held.idx
                    col = held.col  # this process's column, as when it was named
                    if q[_H_HEAD] != idx + 1:
                        table._unlink_lru(held.base)
                        table._push_lru(idx, held.base)
                else:
                    if table._col_pid != _PID[0]:  # this process's column, claimed by its first tracking
                        table._claim()
                    col = table._colw
                    b, ew, ea, mask = layout
                    h = _crc32(key)
                    cur = q[_HEADER + (h & mask)]
                    h1 = h + 1
                    while cur:
                        base = ea + (cur - 1) * ew
                        if q[base + _HASH] == h1:
                            start = (base + _FIXED) * 8
                            if b[start : start + q[base + _KLEN]] == key:
                                idx = cur - 1
                                if q[_H_HEAD] != cur:
                                    table._unlink_lru(base)
                                    table._push_lru(idx, base)
                                break
                        cur = q[base + _NEXT]
                    else:
                        idx = table._insert(key, h, now)
                        if idx < 0:
                            return -1
                        base = ea + idx * ew
                    held.idx = idx
                    held.base = base
                    held.words = words = q[base : base + ew]
                    held.gen = words[_GEN]
                    held.col = col
                if col >= 0:  # the reference and the counted connection, in this process's column
                    words[col] += held_words
                else:
                    words[_REF] += 1
                    if held_words != 1:  # a counted connection
                        words[table.cur_off] += 1  # type: ignore[index]
                if expire:
                    words[_EXP] = now + expire
                if more:
                    if synced:  # the change mark (_mark), inline
                        upd = q[_H_UPD] + 1
                        q[_H_UPD] = upd
                        words[_UPD] = upd
                        q[ring_at + upd % ring_size] = idx + 1
                    for off, period in rates:
                        freq_add(words, off, period, now, 1)
                    for off in plain:
                        words[off] += 1
                if not read_period:
                    return 0
                end = words[read_off] + read_period  # the rate read: counted as above, then freq_read on what is known
                if now >= end:  # the current period is over
                    if now >= end + read_period:
                        past, end = 0, now + read_period
                    else:
                        past, end = words[read_curr], end + read_period
                    words[read_off] = end - read_period
                    words[read_past] = past
                    curr = 1
                else:
                    curr = words[read_curr] + 1
                    past = words[read_past]
                words[read_curr] = curr
                return curr + past * (end - now) // read_period  # the period is current
            finally:
                release()

        self._trackers[(events, connection, rate)] = track
        return track

    def count(self, idx: int, event: str, inc: int = 1) -> None:
        """Add *inc* to one event's counter and rate (a no-op for what the table does not store)."""
        fields = self.events.get(event)
        if not fields:
            return
        now = now_ms()
        self.acquire()
        try:
            self._count(self._base(idx), event, inc, now)
            self._mark(self._base(idx))
        finally:
            self.release()

    def _count(self, base: int, event: str, inc: int, now: int) -> None:
        q = self.q
        for off, period in self.events[event]:
            if period:
                freq_add(q, base + off, period, now, inc)
            else:
                q[base + off] += inc

    def untrack(self, idx: int, bytes_in: int = 0, bytes_out: int = 0, connection: bool = True) -> None:
        """A stream stops tracking the entry: bytes counted, conn_cur down, reference dropped, touched."""
        held = Held()
        held.idx, held.base = idx, self._base(idx)
        held.words = self.q[held.base : held.base + self.entry_words]
        if self._col_pid == _PID[0]:
            held.col = self._colw
        self.untracker(connection)(held, bytes_in, bytes_out)

    def untracker(self, connection: bool = True) -> Callable[[Held, int, int], None]:
        """``untrack`` made into one function (what a stream's end runs per tracked counter, with the
        ``Held`` its tracking named the entry in), as ``tracker``.

        What this process holds sits in its own column, which no other live process writes, so
        dropping it takes no lock unless bytes are counted or a peers section must learn of the
        change (then one lock hold).  Without the lock the entry keeps its place in the LRU list
        (it moved to the head when tracked): its expiry is pushed back first, then the reference
        goes, so it is never evicted or reused before."""
        made = self._untrackers.get(connection)
        if made is not None:
            return made
        expire, synced, counts_bytes = self.expire, self.synced, self.counts_bytes
        drop = _HELD_CONN if connection and self.cur_off is not None else 1
        table = self
        lockless = not synced and not counts_bytes  # what a stream's end does without the lock, whatever it counted
        locked = (self.q, self.lock.acquire, self.lock.release, counts_bytes, self.cur_off, self.ring_at,
                  self.ring_size)  # what only the locked path reads: one closure cell, not seven

        def untrack(held: Held, bytes_in: int = 0, bytes_out: int = 0) -> None:
            words, col = held.words, held.col
            word = words[col] if col >= 0 else 0  # what this process holds there (0: tracked without a column)
            if word and (lockless or not (synced or bytes_in or bytes_out)):
                if expire:
                    words[_EXP] = _floor(_monotonic() * 1000.0) + expire
                words[col] = word - drop
                return
            now = _floor(_monotonic() * 1000.0)
            idx, base = held.idx, held.base
            q, acquire, release, counts_bytes, off, ring_at, ring_size = locked
            if not acquire(False) and not acquire(True, _LOCK_WAIT):
                table._recover()
            q[_H_HOLDER] = _PID[0]
            try:
                if counts_bytes and (bytes_in or bytes_out):
                    table._count(base, "bytes_in", bytes_in, now)
                    table._count(base, "bytes_out", bytes_out, now)
                if word:
                    q[base + col] = word - drop
                else:  # tracked without a column: the shared words
                    if drop == _HELD_CONN and (cur := q[base + off]) > 0:  # type: ignore[operator]
                        q[base + off] = cur - 1  # type: ignore[operator]
                    if (refs := q[base + _REF]) > 0:
                        q[base + _REF] = refs - 1
                if synced:
                    upd = q[_H_UPD] + 1
                    q[_H_UPD] = upd
                    q[base + _UPD] = upd
                    q[ring_at + upd % ring_size] = idx + 1
                if expire:
                    q[base + _EXP] = now + expire
                if q[_H_HEAD] != idx + 1:
                    table._unlink_lru(base)
                    table._push_lru(idx, base)
            finally:
                release()

        self._untrackers[connection] = untrack
        return untrack

    # Columns: what each tracking process holds, given back when it dies.

    def _claim(self) -> None:
        """Claim this process's column now (caller holds the lock): a free one (a dead owner's is freed
        by ``reclaim``); none when none is free (the process then tracks without a column)."""
        q, pid = self.q, _PID[0]
        self._col_pid, self._colw = pid, -1
        for col in range(self.columns):
            owner = q[self.cols_at + col]
            if owner == pid or not owner:
                q[self.cols_at + col] = pid
                self._colw = self.col_off + col
                break

    def reclaim(self, pid: int) -> int:
        """Give back what the dead process *pid* held: its column words are zeroed, so its references
        and counted connections no longer add up in the entries; returns how many entries it held.

        Only the dead process wrote its column, so the column is read without the lock, in one
        strided copy; the lock is then taken once per batch of entries that hold something."""
        q = self.q
        self.acquire()
        try:
            col = next((c for c in range(self.columns) if q[self.cols_at + c] == pid), -1)
            if col < 0:
                return 0
            high = q[_H_HIGH]
        finally:
            self.release()
        first = self.entries_at + self.col_off + col
        words = q[first : first + high * self.entry_words : self.entry_words].tolist()
        held = [idx for idx, word in enumerate(words) if word]
        released = 0
        for start in range(0, len(held), _RECLAIM_BATCH):
            self.acquire()
            try:
                released += self._reclaim_entries(col, held[start : start + _RECLAIM_BATCH])
            finally:
                self.release()
        self.acquire()
        try:
            q[self.cols_at + col] = 0
        finally:
            self.release()
        return released

    def _reclaim_entries(self, col: int, indexes: list[int]) -> int:
        q, released = self.q, 0
        for idx in indexes:
            base = self._base(idx)
            word = q[base + self.col_off + col]
            if not word:
                continue
            q[base + self.col_off + col] = 0  # its references and connections no longer add up
            if not q[base + _HASH]:
                continue
            if word >> _COL_SHIFT and self.cur_off is not None:
                self._mark(base)
            released += 1
        return released

    def lookup(self, key: bytes) -> int:
        """The live entry for *key* or -1; neither creates nor touches (HAProxy's lookup)."""
        now = now_ms()
        self.acquire()
        try:
            return self._live(key, now)
        finally:
            self.release()

    def value(self, idx: int, name: str) -> int | None:
        """One stored value of an entry (a rate is read now; an array element is named ``gpc[1]``);
        None when the table does not store it."""
        read = self.reader(name)
        return None if read is None else read(self.entries_at + idx * self.entry_words)

    def reader(self, name: str) -> Callable[[int], int] | None:
        """The function reading one stored value of the entry whose words start at a base, made once per
        name with the slot's offset and period in its closure (a rate check reads one on every
        request); None when the table does not store *name*."""
        try:
            return self.readers[name]
        except KeyError:
            pass
        slot = self.slots.get(name)
        read: Callable[[int], int] | None = None
        if slot is not None:
            off, period = slot
            q = self.q
            if period:
                def read(base: int) -> int:
                    at = base + off  # freq_read, inline
                    curr, past = q[at + 1], q[at + 2]
                    remain = q[at] + period - _floor(_monotonic() * 1000.0)
                    if remain < 0:
                        remain += period
                        if remain < 0:
                            return 0
                        past, curr = curr, 0
                    if past <= 1 and not curr:
                        return past
                    return curr + past * remain // period
            elif off == self.cur_off:
                read = self._conn_cur
            else:
                def read(base: int) -> int:
                    return q[base + off]
        self.readers[name] = read
        return read

    def set_value(self, idx: int, name: str, value: int) -> bool:
        """Set a counter, tag or server id (a rate: its current period's count); False if not stored."""
        slot = self.slots.get(name)
        if slot is None:
            return False
        off, period = slot
        self.acquire()
        try:
            at = self._base(idx) + off
            if period:
                freq_add(self.q, at, period, now_ms(), 0)
                self.q[at + 1] = value
                self.q[at + 2] = 0
            elif off == self.cur_off:  # the columns' connections add to the word
                self.q[at] = value - self._col_conns(self._base(idx))
            else:
                self.q[at] = value
            self._mark(self._base(idx))
            return True
        finally:
            self.release()

    def inc_value(self, idx: int, event: str) -> int | None:
        """sc_inc_gpc0/1 and sc_inc_gpc(N): count one event and return the new counter (None if not
        stored)."""
        if not self.events.get(event):
            return None
        self.count(idx, event)
        return self.value(idx, EVENTS[event][0] if event in EVENTS else event)

    def server_key(self, idx: int) -> str | None:
        """The server name or address an entry sticks to (``server_key``), None when it has none."""
        if self.server_keys is None:
            return None
        text = self.server_keys.text_of(self.q[self._base(idx) + self.offsets["server_key"]])
        return None if text is None else text.decode("latin-1")

    def set_server_key(self, idx: int, text: str) -> None:
        """Store a server's name or address as the entry's ``server_key`` (kept out when it cannot be)."""
        if self.server_keys is None:
            return
        number = self.server_keys.id_of(text.encode("latin-1"))
        if number:
            self.set_value(idx, "server_key", number)

    def get_or_create(self, key: bytes) -> int:
        """``set table``/``stick store``: the entry for *key*, created if needed, touched, not referenced."""
        now = now_ms()
        self.acquire()
        try:
            idx = self._entry(key, now)
            if idx >= 0:
                self._mark(self._base(idx))
            return idx
        finally:
            self.release()

    def stick(self, key: bytes, server_id: int, server_key: str = "") -> int:
        """``stick store-*``: *key*'s entry, created if needed and touched, now naming a server by its id
        and (when the table stores it) its name or address as ``server_key``; -1 when the table is
        full.  One lock hold, so that the entry is not evicted or reused between finding and writing."""
        number = 0
        if server_key and self.server_keys is not None:
            number = self.server_keys.id_of(server_key.encode("latin-1"))  # its own lock, taken first
        now = now_ms()
        self.acquire()
        try:
            idx = self._entry(key, now)
            if idx < 0:
                return -1
            base = self._base(idx)
            if (slot := self.slots.get("server_id")) is not None:
                self.q[base + slot[0]] = server_id
            if number:
                self.q[base + self.offsets["server_key"]] = number
            self._mark(base)
            return idx
        finally:
            self.release()

    def delete(self, key: bytes) -> bool | None:
        """Remove an entry: True done, False in use (referenced), None absent."""
        self.acquire()
        try:
            idx = self._live(key, now_ms())
            if idx < 0:
                return None
            if self._refs(self._base(idx)):
                return False
            self._remove(idx)
            return True
        finally:
            self.release()

    def used(self) -> int:
        now = now_ms()
        self.acquire()
        try:
            self._purge(now, 1 << 30)
            return self.q[_H_USED]
        finally:
            self.release()

    def available(self) -> int:
        return self.size - self.used()

    def purge_expired(self) -> int:
        now = now_ms()
        self.acquire()
        try:
            return self._purge(now, 1 << 30)
        finally:
            self.release()

    # Reading whole entries (management socket, Lua, a future peers sync).

    def key(self, idx: int) -> bytes:
        base = self._base(idx)
        start = (base + _FIXED) * 8
        return bytes(self.b[start : start + self.q[base + _KLEN]])

    def refs(self, idx: int) -> int:
        return self._refs(self._base(idx))

    def expires_in(self, idx: int, now: int | None = None) -> int:
        """Milliseconds until expiry (0 when the table has no ``expire``)."""
        exp = self.q[self._base(idx) + _EXP]
        if not exp:
            return 0
        return max(exp - (now if now is not None else now_ms()), 0)

    def data(self, idx: int) -> dict[str, int | str]:
        """Every stored data type of an entry, rates read now, in HAProxy's order, as its Lua API and
        ``show table`` filters see them: an array by its first element, server_key as text ('-': none)."""
        now = now_ms()
        out: dict[str, int | str] = {}
        for name, period in self.spec.data:
            if name == "server_key":
                out[name] = self.server_key(idx) or "-"
                continue
            at = self._base(idx) + self.offsets[name]
            out[name] = freq_read(self.q, at, period, now) if period else self._word(idx, at)
        return out

    def _word(self, idx: int, at: int) -> int:
        """A counter, tag or id at word *at* of entry *idx*, conn_cur with the columns' connections."""
        base = self._base(idx)
        return self._conn_cur(base) if at - base == self.cur_off else self.q[at]

    def display(self, idx: int) -> list[tuple[str, int | str]]:
        """Every stored value as ``show table`` labels it: arrays one label per element (``gpt1``,
        ``gpc0_rate(10000)``), rates with their period."""
        now = now_ms()
        out: list[tuple[str, int | str]] = []
        for name, period in self.spec.data:
            if name == "server_key":
                out.append((name, self.server_key(idx) or "-"))
                continue
            width = 3 if period else 1
            at = self._base(idx) + self.offsets[name]
            for i in range(self.spec.elements(name)):
                label = (f"gpc{i}_rate" if name == "gpc_rate" else f"{name}{i}") if name in ARRAYS else name
                word = at + i * width
                out.append((f"{label}({period})" if period else label,
                            freq_read(self.q, word, period, now) if period else self._word(idx, word)))
        return out

    def raw(self, idx: int) -> dict[str, Any]:
        """An entry's raw words: what a peers sync exports.  A rate is its (tick, curr, prev) triple,
        an array a list of its elements, server_key its text (None: none)."""
        base = self._base(idx)
        q = self.q
        out: dict[str, Any] = {}
        for name, period in self.spec.data:
            at = base + self.offsets[name]
            if name == "server_key":
                out[name] = self.server_key(idx)
                continue
            values = [(q[w], q[w + 1], q[w + 2]) if period else self._word(idx, w)
                      for w in range(at, at + (3 if period else 1) * self.spec.elements(name), 3 if period else 1)]
            out[name] = values if name in ARRAYS else values[0]
        return out

    def indexes(self) -> list[int]:
        """Live entries, most recently used first (a snapshot taken under the lock)."""
        return self.snapshot()[1]

    def snapshot(self) -> tuple[int, list[int]]:
        """(used, live entries most recently used first), after one purge, under one lock: a dump whose
        header and lines agree even while entries expire."""
        now = now_ms()
        self.acquire()
        try:
            self._purge(now, 1 << 30)
            out, cur = [], self.q[_H_HEAD]
            while cur:
                out.append(cur - 1)
                cur = self.q[self._base(cur - 1) + _LNEXT]
            return self.q[_H_USED], out
        finally:
            self.release()

    # The peers agent's side.

    def last_update(self) -> int:
        return self.q[_H_UPD]

    def changed_since(self, update: int, limit: int) -> list[tuple[int, int]]:
        """(update id, index) of the live entries changed locally after *update*, oldest change first,
        at most *limit*: what a peer that acknowledged *update* has not been sent yet."""
        now = now_ms()
        q = self.q
        self.acquire()
        try:
            self._purge(now, 1 << 30)
            last = q[_H_UPD]
            if last - update <= self.ring_size:
                return self._from_ring(update, last, limit)
            found, cur = [], q[_H_HEAD]  # too far behind for the ring: look at every entry
            while cur:
                base = self._base(cur - 1)
                if q[base + _UPD] > update:
                    found.append((q[base + _UPD], cur - 1))
                cur = q[base + _LNEXT]
        finally:
            self.release()
        found.sort()
        return found[:limit]

    def _from_ring(self, update: int, last: int, limit: int) -> list[tuple[int, int]]:
        """The ring's changes after *update*: a slot whose entry changed again later, or was freed,
        is skipped (the later slot, if any, stands for it)."""
        q, found = self.q, []
        for upd in range(update + 1, last + 1):
            idx = q[self.ring_at + upd % self.ring_size] - 1
            base = self._base(idx)
            if idx >= 0 and q[base + _HASH] and q[base + _UPD] == upd:
                found.append((upd, idx))
                if len(found) >= limit:
                    break
        return found

    def merge(self, key: bytes, values: dict[str, Any], expire_ms: int) -> bool:
        """An entry learnt from a peer, as HAProxy does: created if needed, each value the peer sent
        replaces ours (rates as their three words), except conn_cur which stays local; the expiry
        is the peer's remaining delay, at most the table's.  The entry keeps its own update id, so
        what was learnt is not pushed back.  False when the table is full."""
        now = now_ms()
        self.acquire()
        try:
            idx = self._entry(key, now)
            if idx < 0:
                return False
            base = self._base(idx)
            if self.expire:
                self.q[base + _EXP] = now + min(expire_ms, self.expire)
            for name, value in values.items():
                off = self.offsets.get(name)
                if off is None or name == "conn_cur":
                    continue
                if name == "server_key":
                    number = self.server_keys.id_of(value) if self.server_keys is not None else 0
                    if number:
                        self.q[base + off] = number
                    continue
                items = value[: self.spec.elements(name)] if isinstance(value, list) else (value,)
                width = 3 if self.spec.period(name) else 1
                for n, item in enumerate(items):
                    for i, word in enumerate(item if isinstance(item, tuple) else (item,)):
                        self.q[base + off + n * width + i] = word
            return True
        finally:
            self.release()

    def __iter__(self) -> Iterator[int]:
        return iter(self.indexes())


_ZEROS: dict[int, memoryview] = {}


def _zeros(words: int) -> memoryview:
    found = _ZEROS.get(words)
    if found is None:
        found = _ZEROS[words] = memoryview(bytes(words * 8)).cast("q")
    return found


_PID = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
