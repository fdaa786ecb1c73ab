"""A ``resolvers`` section as the processes run it, and the per-nameserver counters of ``show resolvers``."""

from __future__ import annotations

from dataclasses import dataclass, field

HOLD_STATUSES = ("nx", "other", "refused", "timeout", "valid", "obsolete")
"""``hold <status> <period>``: how long the last valid answer outlives an answer of this status."""
DEFAULT_HOLD = {"nx": 30.0, "other": 30.0, "refused": 30.0, "timeout": 30.0, "valid": 10.0, "obsolete": 0.0}
COUNTERS = ("sent", "snd_error", "valid", "update", "cname", "cname_error", "any_err", "nx", "timeout",
            "refused", "other", "invalid", "too_big", "truncated", "outdated")
"""``show resolvers``'s counters, in haproxy 2.6's order."""


@dataclass(frozen=True, slots=True)
class Nameserver:
    name: str
    host: str
    port: int = 53


class NameserverStats(dict[str, int]):
    """One nameserver's counters, by COUNTERS name."""

    def __init__(self) -> None:
        super().__init__(dict.fromkeys(COUNTERS, 0))

    def add(self, other: dict[str, int]) -> None:
        for name in COUNTERS:
            self[name] += other.get(name, 0)


@dataclass(slots=True)
class ResolversSection:
    """``resolvers NAME``: where to ask and how long to wait, retry and keep answers."""

    name: str
    nameservers: list[Nameserver] = field(default_factory=list)
    payload_size: int = 512
    """``accepted_payload_size``: above 512 the queries carry an EDNS0 record announcing it."""
    retries: int = 3
    """``resolve_retries``: queries sent before a resolution ends in a timeout."""
    timeout_resolve: float = 1.0
    """``timeout resolve``: the time between two resolutions of a server's name."""
    timeout_retry: float = 1.0
    """``timeout retry``: the wait for an answer before the query is sent again."""
    hold: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_HOLD))
    stats: dict[str, NameserverStats] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for ns in self.nameservers:
            self.stats.setdefault(ns.name, NameserverStats())

    def add_nameserver(self, ns: Nameserver) -> None:
        self.nameservers.append(ns)
        self.stats.setdefault(ns.name, NameserverStats())

    def count(self, ns: Nameserver, counter: str, n: int = 1) -> None:
        self.stats[ns.name][counter] += n
