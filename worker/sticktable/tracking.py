"""The stick counters one connection tracks (sc0, sc1, sc2) and when their events are counted.

A ``Trackers`` belongs to a client connection.  Counters tracked by
``tcp-request connection|session`` rules last as long as the connection;
those tracked by ``tcp-request content`` and ``http-request`` rules belong to
one stream (in HTTP mode, one request), as in HAProxy 2.6 where every HTTP
request is a stream.  Tracking counts a connection (conn_cnt, conn_rate,
conn_cur) at once; the end of a stream counts its bytes and its HTTP error or
failure and releases what the stream tracked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .table import Held, SharedTable

MAX_COUNTERS = 3
_COUNTERS = tuple(range(MAX_COUNTERS))
UNTRACKED: list[None] = [None] * MAX_COUNTERS
"""Trackers.slots when no counter is tracked (compared with, never changed): one C comparison, where testing
each slot is a dozen bytecodes on every request."""
EVENTS = ("conn", "sess")
"""What tracking counts: a connection and a session (a track-sc rule outside an HTTP stream)."""
HTTP_EVENTS = ("conn", "sess", "http_req")
"""What tracking counts in an HTTP stream: the request too."""


class Tracked(Held):
    """One tracked counter: the table, the entry (``Held``: the table's tracker names it), its key, its
    number (sc0, sc1, sc2) and whether it lasts the whole session.  A connection's counter keeps its
    Tracked for the next request's tracking (making an object of a Python class costs several times a
    tracking), whose lookup the entry's generation lets the tracker skip.
    """

    __slots__ = ("key", "n", "session", "source", "table")

    def __init__(self, table: SharedTable, key: bytes, n: int) -> None:
        super().__init__()
        self.table = table
        self.key = key
        self.n = n
        self.session = False
        self.source: str | None = None
        """The client address text the key was made from (``track-scN src``): the connection's next
        request compares its own by identity, so the key is not made or compared again."""


class Trackers:
    __slots__ = ("ended", "made", "sessions", "slots", "streamed")

    def __init__(self) -> None:
        self.slots: list[Tracked | None] = [None] * MAX_COUNTERS
        self.made: list[Tracked | None] = [None] * MAX_COUNTERS
        """Each counter's Tracked, made on its first tracking and reused by the next ones."""
        self.ended = False
        """The current stream's end was counted (early, before its reply went out); ``begin_stream`` resets it."""
        self.streamed: list[Tracked] = []
        """The counters the current stream tracks (not the session): what its end releases, without
        looking at the others; once released early (``ended``), what stays readable for its log."""
        self.sessions = 0
        """How many counters the session tracks (their bytes count at each stream's end)."""

    def begin_stream(self) -> None:
        """A new stream (HTTP request) on the connection: drop what the previous one left for its log."""
        self.ended = False
        streamed = self.streamed
        if streamed:  # released at the previous stream's end, kept for its log until now
            slots = self.slots
            for tracked in streamed:
                slots[tracked.n] = None
            streamed.clear()

    def get(self, n: int) -> Tracked | None:
        return self.slots[n] if 0 <= n < MAX_COUNTERS else None

    def track(self, n: int, table: SharedTable, key: bytes, session: bool, http: bool) -> None:
        """track-scN on a free counter *n* (the rule's caller checks: only the first tracking applies)."""
        self.track_with(n, table, table.tracker(HTTP_EVENTS if http else EVENTS), key, session)

    def track_with(self, n: int, table: SharedTable, tracker: Callable[[bytes, Held], int], key: bytes,
                   session: bool) -> int:
        """``track`` with the table's *tracker* for the events to count (a rule made it once): the
        entry counter *n* tracked last is its hint when it was for the same key in the same table.
        Returns what the tracker returns (-1: the table is full, nothing tracked)."""
        tracked = self.named(n, table, key)
        value = tracker(key, tracked)
        if value < 0:
            return value
        tracked.session = session
        self.slots[n] = tracked
        if session:
            self.sessions += 1
        else:
            self.streamed.append(tracked)
        return value

    def named(self, n: int, table: SharedTable, key: bytes) -> Tracked:
        """Counter *n*'s Tracked for *key* in *table*: the one it tracked last, renamed if it was for
        another key or table (no longer in ``slots``: the caller checks)."""
        tracked = self.made[n]
        if tracked is None:
            tracked = self.made[n] = Tracked(table, key, n)
        elif tracked.key != key or tracked.table is not table:
            tracked.table = table
            tracked.key = key
            tracked.gen = 0
            tracked.source = None
        return tracked

    def count(self, event: str) -> None:
        """An event for every tracked counter (a new HTTP request, an HTTP error...)."""
        for tracked in self.slots:
            if tracked is not None:
                tracked.table.count(tracked.idx, event)

    def end_stream(self, status: int, bytes_in: int, bytes_out: int, from_server: bool = False,
                   keep_for_log: bool = False) -> None:
        """A stream ends: its status and bytes count for every tracked counter; its own ones are released.

        A 4xx is a client error (http_err); a 5xx other than 501 and 505 is a failure (http_fail)
        only when a server was involved, not when luaproxy answered by itself (no server: 503).
        With *keep_for_log* (a reply of our own, counted before it is sent so that whoever reads
        the answer finds the table up to date) the released entries stay readable until
        ``begin_stream``; a second call for the same stream does nothing."""
        if self.ended:
            return
        self.ended = keep_for_log
        if status >= 400:
            if status < 500:
                self.count("http_err")
            elif from_server and status not in (501, 505):
                self.count("http_fail")
        if self.sessions and (bytes_in or bytes_out):
            for tracked in self.slots:
                if tracked is not None and tracked.session:
                    tracked.table.count(tracked.idx, "bytes_in", bytes_in)
                    tracked.table.count(tracked.idx, "bytes_out", bytes_out)
        streamed = self.streamed
        if streamed:
            for tracked in streamed:
                drop = tracked.table.drop  # an attribute, not a method: called apart, it is read as one (cheaper)
                drop(tracked, bytes_in, bytes_out)
            if not keep_for_log:
                slots = self.slots
                for tracked in streamed:
                    slots[tracked.n] = None
                streamed.clear()

    def end_session(self) -> None:
        """The connection is over: release what the session-level rules tracked (and a stream's
        counters, unless its end released them already: ``ended``)."""
        released = self.streamed if self.ended else ()
        for n, tracked in enumerate(self.slots):
            if tracked is not None:
                if tracked not in released:
                    tracked.table.drop(tracked)
                self.slots[n] = None
        self.streamed.clear()
        self.sessions = 0


def trackers_of(ctx: Any) -> Trackers | None:
    return getattr(ctx, "stkctr", None)
