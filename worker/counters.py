"""Traffic counters, kept as HAProxy keeps them: per frontend, per backend, per server.

Plain integers on the hot path (a stream bumps a few per request); the
stats snapshot copies them into JSON-ready dicts for the master to sum.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")

CLASS_OF_STATUS = ("other",) * 100 + tuple(f"{hundred}xx" for hundred in range(1, 6) for _ in range(100))
"""The ``responses`` key of statuses 0-599 (one index where the stream counts inline); 600 and up: "other"."""


@dataclass(slots=True)
class Counters:
    current: int = 0
    max: int = 0
    total: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    spliced_in: int = 0
    spliced_out: int = 0
    denied_conn: int = 0
    denied_req: int = 0
    denied_resp: int = 0
    failed_req: int = 0
    requests: int = 0
    conn_errors: int = 0
    resp_errors: int = 0
    retries: int = 0
    redispatches: int = 0
    lb_total: int = 0
    response_time_total: float = 0.0
    response_count: int = 0
    responses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUS_CLASSES, 0))

    def open(self) -> None:
        current = self.current = self.current + 1
        self.total += 1
        if current > self.max:
            self.max = current

    def close(self) -> None:
        self.current -= 1

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


RATES = ("rate", "rate_max", "req_rate", "req_rate_max")
SUMMED = tuple(name for name in Counters.__dataclass_fields__ if name not in ("max", "responses"))


def add(total: dict[str, object], part: dict[str, object]) -> None:
    """Add one worker's counters to a running total (max is the largest seen)."""
    for name in SUMMED:
        total[name] = total.get(name, 0) + part.get(name, 0)  # type: ignore[operator]
    total["max"] = max(int(total.get("max", 0)), int(part.get("max", 0)))  # type: ignore[arg-type]
    for name in RATES:  # workers' rates add up; their maxima too (the workers share the load evenly)
        if name in part:
            total[name] = total.get(name, 0) + part[name]  # type: ignore[operator]
    responses = total.setdefault("responses", {})
    for code, count in part.get("responses", {}).items():  # type: ignore[union-attr]
        responses[code] = responses.get(code, 0) + count  # type: ignore[union-attr]
