"""The algorithms that ignore the request: roundrobin, static-rr, leastconn, first, random."""

from __future__ import annotations

import random
from typing import Any

from ..proxy import Server
from .farm import Balancer, weighted_map


class _AmongFree(Balancer):
    """A balancer that picks among the servers with a free connection slot; a lone server needs no pick
    (round robin's score would gain and lose its weight, unchanged)."""

    takes_lone = True

    def choose(self, txn: Any, group: list[Server]) -> Server | None:
        if len(group) == 1:
            return None if group[0].full else group[0]
        candidates = [s for s in group if not s.full]
        return self.choose_among(candidates) if candidates else None

    def choose_among(self, candidates: list[Server]) -> Server:
        raise NotImplementedError


class RoundRobin(_AmongFree):
    """Smooth weighted round robin on the live weights, so a weight change applies at once.

    Each pick adds every candidate's weight to its score, takes the highest
    score (first declared on a tie) and charges it the sum of the weights.
    """

    def __init__(self, servers: list[Server], all_backups: bool = False) -> None:
        super().__init__(servers, all_backups)
        self.scores: dict[Server, int] = {}

    def choose_among(self, candidates: list[Server]) -> Server:
        best = candidates[0]
        for server in candidates:
            self.scores[server] = self.scores.get(server, 0) + server.weight
            if self.scores[server] > self.scores[best]:
                best = server
        self.scores[best] -= sum(s.weight for s in candidates)
        return best

    def forget(self, server: Server) -> None:
        self.scores.pop(server, None)


class StaticRoundRobin(Balancer):
    """Turns over a map of the configured weights, rebuilt only when the group changes.

    As HAProxy's static-rr, a weight changed at run time has no effect beyond
    0 (the server leaves the farm) and back.
    """

    dynamic = False

    def __init__(self, servers: list[Server], all_backups: bool = False) -> None:
        super().__init__(servers, all_backups)
        self.weights = {s: s.weight for s in servers}
        self.members: list[Server] = []
        self.slots: list[Server] = []
        self.position = 0

    def choose(self, txn: Any, group: list[Server]) -> Server | None:
        if group != self.members:
            self.members, self.slots, self.position = group, weighted_map(group, self.weights), 0
        for step in range(len(self.slots)):
            server = self.slots[(self.position + step) % len(self.slots)]
            if not server.full:
                self.position = (self.position + step + 1) % len(self.slots)
                return server
        return None


class LeastConn(_AmongFree):
    """The server with the fewest connections for its weight; round robin among equals."""

    def __init__(self, servers: list[Server], all_backups: bool = False) -> None:
        super().__init__(servers, all_backups)
        self.turn = 0

    def choose_among(self, candidates: list[Server]) -> Server:
        lowest = min(_load(s) for s in candidates)
        tied = [s for s in candidates if _load(s) == lowest]
        self.turn += 1
        return tied[self.turn % len(tied)]


class First(Balancer):
    """The first server, by id, with a free connection slot: fills servers one after the other."""

    takes_lone = True

    def choose(self, txn: Any, group: list[Server]) -> Server | None:
        return next((s for s in sorted(group, key=lambda s: s.id) if not s.full), None)


class Random(_AmongFree):
    """``random(draws)``: *draws* weighted random servers, the least loaded of them wins."""

    hash_based = True

    def __init__(self, servers: list[Server], all_backups: bool = False, draws: int = 2) -> None:
        super().__init__(servers, all_backups)
        self.draws = draws
        self.rng = random.Random()

    def choose_among(self, candidates: list[Server]) -> Server:
        drawn = self.rng.choices(candidates, weights=[s.weight for s in candidates], k=self.draws)
        return min(drawn, key=_load)


def _load(server: Server) -> float:
    """Connections per unit of weight, counting the one about to be made (as HAProxy's leastconn)."""
    return (server.current_conns + 1) / server.weight
