"""The algorithms that hash part of the request: source, uri, url_param, hdr(name).

``hash-type map-based`` (the default) lists each server as many times as its
configured weight and sends a request to slot ``hash % total weight``: stable
while the farm is unchanged.  ``hash-type consistent`` places servers on a
ring (:class:`.farm.HashRing`) so a change moves only the affected share.
Both pick the same server haproxy 2.6 picks for the same key and farm.  A
request without the key (no such header or parameter, TCP mode) goes round
robin, as in HAProxy.  A full server is not swapped for another: HAProxy
would queue on it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from ..proxy import Server
from ..samples.hashing import full_hash, sdbm
from .algorithms import RoundRobin
from .farm import Balancer, HashRing, weighted_map


class HashBalancer(Balancer):
    """Base class: subclasses give ``hash(txn)``, an unsigned 32-bit int or None."""

    hash_based = True

    def __init__(self, servers: list[Server], all_backups: bool = False, function: Callable[[bytes], int] = sdbm,
                 avalanche: bool = False, consistent: bool = False) -> None:
        super().__init__(servers, all_backups)
        self.function = function
        self.avalanche = avalanche
        self.consistent = consistent
        self.weights = {s: s.weight for s in servers}
        self.farm: tuple[tuple[Server, int], ...] = ()
        self.slots: list[Server] = []
        self.ring = HashRing(())
        self.fallback = RoundRobin(servers, all_backups)

    @property
    def dynamic(self) -> bool:  # type: ignore[override]
        """Consistent hashing follows weight changes; a map-based one is static."""
        return self.consistent

    def forget(self, server: Server) -> None:
        self.fallback.forget(server)
        self.weights.pop(server, None)

    def hash(self, txn: Any) -> int | None:
        raise NotImplementedError

    def digest(self, data: str) -> int:
        """The configured hash function over latin-1 text (one byte per character, as on the wire)."""
        value = self.function(data.encode("latin-1", "replace"))
        return full_hash(value) if self.avalanche else value

    def choose(self, txn: Any, group: list[Server]) -> Server | None:
        value = self.hash(txn)
        if value is None:
            return self.fallback.choose(txn, group)
        server = self.locate(group, value)
        return None if server is None or server.full else server

    def locate(self, group: list[Server], value: int) -> Server | None:
        """The map slot (configured weights) or the ring point (live weights) for *value*."""
        if self.consistent:
            farm = tuple((s, s.weight) for s in group)
            if farm != self.farm:
                self.farm, self.ring = farm, HashRing(group)
            return self.ring.find(value) if self.ring else None
        farm = tuple((s, self.weights[s]) for s in group)
        if farm != self.farm:
            self.farm, self.slots = farm, weighted_map(group, self.weights)
        return self.slots[value % len(self.slots)] if self.slots else None


class Source(HashBalancer):
    """``balance source``: the client address, its 32-bit words XORed (no hash function;
    always avalanched on a consistent ring)."""

    def hash(self, txn: Any) -> int | None:
        try:
            packed = ipaddress.ip_address(txn.src).packed
        except ValueError:
            return None
        value = 0
        for i in range(0, len(packed), 4):
            value ^= int.from_bytes(packed[i:i + 4], "big")
        return full_hash(value) if self.avalanche or self.consistent else value


class Uri(HashBalancer):
    """``balance uri [len N] [depth N] [whole] [path-only]``: the URI up to the '?' by default.

    ``len`` keeps the first N characters, ``depth`` stops before the N+1th
    slash, ``whole`` keeps the query, ``path-only`` drops scheme and authority.
    """

    def __init__(self, servers: list[Server], all_backups: bool = False, *, length: int = 0, depth: int = 0,
                 whole: bool = False, path_only: bool = False, **hashing: Any) -> None:
        super().__init__(servers, all_backups, **hashing)
        self.length = length
        self.depth = depth
        self.whole = whole
        self.path_only = path_only

    def hash(self, txn: Any) -> int | None:
        request = txn.request
        if request is None:
            return None
        uri = request.target
        if self.path_only:
            uri = request.path + ("" if request.query is None else f"?{request.query}")
        if self.length:
            uri = uri[:self.length]
        if not self.whole:
            uri = uri.split("?", 1)[0]
        if self.depth:
            uri = "/".join(uri.split("/")[:self.depth + 1])
        return self.digest(uri)


class UrlParam(HashBalancer):
    """``balance url_param <name>``: the value of the first ``name=`` in the query string."""

    def __init__(self, servers: list[Server], all_backups: bool = False, *, name: str, **hashing: Any) -> None:
        super().__init__(servers, all_backups, **hashing)
        self.name = name

    def hash(self, txn: Any) -> int | None:
        query = txn.request.query if txn.request is not None else None
        if query is None:
            return None
        for param in query.split("&"):
            name, equal, value = param.partition("=")
            if equal and name == self.name:
                return self.digest(value)
        return None


class Header(HashBalancer):
    """``balance hdr(name) [use_domain_only]``: the header's first value.

    With ``use_domain_only`` only the label before the last dot counts, so
    ``www.example.com`` and ``static.example.com`` hash alike.
    """

    def __init__(self, servers: list[Server], all_backups: bool = False, *, name: str,
                 domain_only: bool = False, **hashing: Any) -> None:
        super().__init__(servers, all_backups, **hashing)
        self.name = name
        self.domain_only = domain_only

    def hash(self, txn: Any) -> int | None:
        values = txn.request.headers.get_values(self.name) if txn.request is not None else []
        if not values:
            return None
        value = values[0]
        if self.domain_only and "." in value:
            value = value.split(".")[-2]
        return self.digest(value)
