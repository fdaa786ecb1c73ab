"""What every balancing algorithm shares: which servers a pick may use, the queue, and
the weighted map and ring the hash algorithms place servers on.

HAProxy sends traffic to the usable active servers; only when none is usable
does it fall back to the backups: the first usable one in declaration order,
or all of them with ``option allbackups``.  A server at its ``maxconn`` stays in
the farm but is skipped by the round-robin style algorithms; when every
server is full (for the hash algorithms: when their server is full) HAProxy
queues the request until a slot frees or ``timeout queue`` expires (then 503).
``pick`` never waits; ``acquire``/``release`` add that queue.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable
from typing import Any

import gevent
from gevent.event import Event

from ..proxy import Server
from ..samples.hashing import full_hash

RING_POINTS_PER_WEIGHT = 16
RING_ID_SPACING = 4096


class Balancer:
    """Base class: ``pick`` narrows the farm to the group in use, ``choose`` is the algorithm."""

    hash_based = False
    """HAProxy's hash kind (hashes, random): a failed server is only left at ``option redispatch``'s interval."""
    dynamic = True
    """Whether a runtime weight change applies (HAProxy's dynamic algorithms); static ones take only 0 and back."""
    takes_lone = False
    """Its pick of a farm of one usable server with a free slot is always that server (no map of configured
    weights that could leave it out): ``take_lone`` may skip the pick."""

    def __init__(self, servers: list[Server], all_backups: bool = False) -> None:
        self.servers = servers
        self.all_backups = all_backups
        self.waiters: deque[Event] = deque()

    def active(self) -> list[Server]:
        """The usable servers that are not backups (HAProxy's ``srv_act``)."""
        return [s for s in self.servers if s.usable and not s.backup]

    def group(self) -> list[Server]:
        """The usable active servers, else the backups in use (``active()`` written out, with each server's kept
        ``traffic`` read first: every request's pick runs this)."""
        active = [s for s in self.servers if (s.traffic or s.takes_traffic()) and not s.backup]
        if active:
            return active
        backups = [s for s in self.servers if s.usable and s.backup]
        return backups if self.all_backups else backups[:1]

    def pick(self, txn: Any, exclude: Server | None = None) -> Server | None:
        """A server for *txn*, or None when none can take it now.

        *exclude* is avoided when another server of the group is usable (a
        redispatch after a failed connection), as HAProxy avoids the previous
        server; alone in its group, it is chosen again.
        """
        return self._pick_in(txn, self.group(), exclude)

    def _pick_in(self, txn: Any, group: list[Server], exclude: Server | None) -> Server | None:
        if exclude is not None and len(group) > 1:
            group = [s for s in group if s is not exclude]
        return self.choose(txn, group) if group else None

    def choose(self, txn: Any, group: list[Server]) -> Server | None:
        raise NotImplementedError

    @property
    def queued(self) -> int:
        """Requests waiting for a slot (``qcur`` in ``show stat``)."""
        return len(self.waiters)

    def acquire(self, txn: Any, timeout: float | None, exclude: Server | None = None) -> Server | None:
        """``pick`` and count the connection on the server, waiting in line while servers are full.

        Waiting ends with a server, or None when *timeout* (``timeout queue``;
        None waits forever) expires or no server is usable any more.  Once
        someone waits, newcomers line up behind them, as HAProxy's queue does;
        each release or departure lets the whole line retry, first come first.
        """
        if not self.waiters:  # the usual case, in one pass over the farm: pick, count, done
            group = self.group()
            server = self._pick_in(txn, group, exclude) if group else None
            if server is not None:
                server.current_conns += 1
                return server
            if not group:
                return None
        waiter = Event()
        self.waiters.append(waiter)
        try:
            with gevent.Timeout(timeout, False):
                while True:
                    waiter.wait()
                    waiter.clear()
                    server = self._take(txn, exclude)
                    if server is not None or not self.group():
                        return server
            return None
        finally:
            self.waiters.remove(waiter)
            self._wake()

    def take_lone(self) -> Server | None:
        """What ``acquire`` gives when the farm is one usable server with a free slot and nobody waits (that
        server, its slot taken), without the pick; None otherwise (then ``acquire`` decides)."""
        servers = self.servers
        if len(servers) == 1 and self.takes_lone and not self.waiters:
            server = servers[0]
            if (server.traffic or server.takes_traffic()) and not 0 < server.maxconn <= server.current_conns:
                server.current_conns += 1
                return server
        return None

    def release(self, server: Server) -> None:
        """The connection *acquire* counted has ended: the line retries, in order."""
        server.current_conns -= 1
        if self.waiters:
            self._wake()

    def _wake(self) -> None:
        for waiter in self.waiters:
            waiter.set()

    def _take(self, txn: Any, exclude: Server | None) -> Server | None:
        server = self.pick(txn, exclude)
        if server is not None:
            self.take(server)
        return server

    def take(self, server: Server) -> None:
        """Count a connection on a server chosen without balancing (a stick match)."""
        server.current_conns += 1

    def forget(self, server: Server) -> None:
        """*server* left the farm (``del server``): drop what this algorithm kept about it."""


def weighted_map(servers: Iterable[Server], weights: dict[Server, int]) -> list[Server]:
    """Each server *weight* times, interleaved, first declared first (HAProxy's server map).

    At each slot every server gains its weight; the one whose score, rounded
    down in units of the total, is highest takes the slot and pays the total
    back.  Ties go to the first declared, so equal weights keep config order.
    """
    members = [s for s in servers if weights.get(s, 0) > 0]
    total = sum(weights[s] for s in members)
    scores = dict.fromkeys(members, 0)
    slots: list[Server] = []
    for _ in range(total):
        best, best_rank = members[0], -1
        for server in members:
            scores[server] += weights[server]
            rank = (scores[server] + total) // total
            if rank > best_rank:
                best, best_rank = server, rank
        scores[best] -= total
        slots.append(best)
    return slots


class HashRing:
    """HAProxy's consistent hashing: each server owns 16 points per unit of weight on a
    32-bit ring, at ``full_hash(id * 4096 + n)``; a hash goes to the nearest point
    (the one before it on a tie).  Adding or removing a server moves only its share.
    """

    def __init__(self, servers: Iterable[Server]) -> None:
        points = sorted(((full_hash(s.id * RING_ID_SPACING + n), s) for s in servers
                         for n in range(s.weight * RING_POINTS_PER_WEIGHT)), key=lambda p: p[0])
        self.keys = [key for key, _ in points]
        self.owners = [server for _, server in points]

    def __bool__(self) -> bool:
        return bool(self.keys)

    def find(self, value: int) -> Server:
        after = bisect_left(self.keys, value) % len(self.keys)
        before = after - 1
        if self.owners[after] is self.owners[before]:
            return self.owners[after]
        to_before = (value - self.keys[before]) & 0xFFFFFFFF
        to_after = (self.keys[after] - value) & 0xFFFFFFFF
        return self.owners[before] if to_before <= to_after else self.owners[after]
