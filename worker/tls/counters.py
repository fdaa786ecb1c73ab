"""This worker's TLS counters, for ``show info``'s Ssl* fields.

Every handshake counts as a session; a full one (not resumed from a ticket
or the session cache) also counts as a key computation.  The master sums the
workers' counters; ``SslFrontendSessionReuse_pct`` is the share of frontend
handshakes that were resumptions, over the life of the workers (haproxy
reads its rates over the last second).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(slots=True)
class SslCounters:
    fe_sessions: int = 0
    fe_keys: int = 0
    be_sessions: int = 0
    be_keys: int = 0

    def handshake(self, frontend: bool, resumed: bool) -> None:
        if frontend:
            self.fe_sessions += 1
            self.fe_keys += not resumed
        else:
            self.be_sessions += 1
            self.be_keys += not resumed

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


COUNTERS = SslCounters()
"""The worker's own (one per process)."""


def info_fields(snapshots: list[dict[str, Any]]) -> dict[str, int]:
    """``show info``'s TLS fields from the workers' snapshots."""
    total = SslCounters()
    for snapshot in snapshots:
        for name, value in snapshot.get("ssl", {}).items():
            setattr(total, name, getattr(total, name) + value)
    reuse = 0
    if total.fe_keys < total.fe_sessions:
        reuse = 100 - math.ceil(100 * total.fe_keys / total.fe_sessions)
    return {"CumSslConns": total.fe_sessions + total.be_sessions, "SslFrontendSessionReuse_pct": reuse}
