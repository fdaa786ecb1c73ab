"""Metrics beyond HAProxy's: Lua call counts and durations, map updates, and metrics created from Lua.

Each process keeps plain numbers per label set; a snapshot is JSON-ready data
that the stats path sums over workers (counters, gauges and histogram buckets
add up), then prometheus-client renders the families (histograms included).
Definitions are made before the fork (the Lua body context), so every worker
has the same ones.  prometheus-client is imported only to render, as
worker.prometheus says why.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.core import Metric

KINDS = ("counter", "gauge", "histogram")
DEFAULT_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)


@dataclass(slots=True)
class Definition:
    name: str
    kind: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    values: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def key(self, labels: dict[str, str] | None) -> tuple[str, ...]:
        given = labels or {}
        unknown = set(given) - set(self.labels)
        if unknown:
            raise ValueError(f"metric '{self.name}' has no label {', '.join(sorted(unknown))} "
                             f"(its labels: {', '.join(self.labels) or 'none'})")
        return tuple(str(given.get(label, "")) for label in self.labels)

    def add(self, amount: float, labels: dict[str, str] | None = None) -> None:
        if self.kind == "counter" and amount < 0:
            raise ValueError(f"counter '{self.name}' can only increase")
        key = self.key(labels)
        self.values[key] = self.values.get(key, 0) + amount

    def set(self, value: float, labels: dict[str, str] | None = None) -> None:
        self.values[self.key(labels)] = value

    def observe(self, value: float, labels: dict[str, str] | None = None) -> None:
        self.observe_key(self.key(labels), value)

    def add_key(self, key: tuple[str, ...], amount: float) -> None:
        """add() for a label key already checked by key(): the hot path of luaproxy's own metrics."""
        self.values[key] = self.values.get(key, 0) + amount

    def observe_key(self, key: tuple[str, ...], value: float) -> None:
        state = self.values.get(key)
        if state is None:
            state = self.values[key] = {"buckets": [0] * (len(self.buckets) + 1), "sum": 0.0}
        state["buckets"][bisect.bisect_left(self.buckets, value)] += 1
        state["sum"] += value


class MetricSet:
    """The metrics of one process, by name."""

    def __init__(self) -> None:
        self.definitions: dict[str, Definition] = {}
        self.before_snapshot: list[Callable[[], None]] = []
        """Called as a snapshot starts: counts kept elsewhere as plain integers (a hot path's) are added in then."""

    def define(self, name: str, kind: str, help_text: str, labels: tuple[str, ...] = (),
               buckets: tuple[float, ...] | None = None) -> Definition:
        if kind not in KINDS:
            raise ValueError(f"unknown metric kind '{kind}'")
        existing = self.definitions.get(name)
        if existing is not None:
            if (existing.kind, existing.labels) != (kind, labels):
                raise ValueError(f"metric '{name}' is already defined as a {existing.kind} with labels "
                                 f"({', '.join(existing.labels)})")
            return existing
        definition = Definition(name, kind, help_text, labels, tuple(sorted(buckets or DEFAULT_BUCKETS)))
        self.definitions[name] = definition
        return definition

    def snapshot(self) -> list[dict[str, Any]]:
        for fold in self.before_snapshot:
            fold()
        return [{"name": d.name, "kind": d.kind, "help": d.help, "labels": list(d.labels),
                 "buckets": list(d.buckets), "values": [[list(k), v] for k, v in d.values.items()]}
                for d in self.definitions.values()]


def merge(snapshots: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Sum the same metrics across workers (gauges included: they describe the whole service)."""
    merged: dict[str, dict[str, Any]] = {}
    for snapshot in snapshots:
        for metric in snapshot:
            total = merged.setdefault(metric["name"], {**metric, "values": {}})
            for key, value in metric["values"]:
                total["values"][tuple(key)] = _add(total["values"].get(tuple(key)), value)
    return list(merged.values())


def _add(total: Any, value: Any) -> Any:
    if total is None:
        return value
    if isinstance(value, dict):
        return {"buckets": [a + b for a, b in zip(total["buckets"], value["buckets"], strict=True)],
                "sum": total["sum"] + value["sum"]}
    return total + value


def families(merged: list[dict[str, Any]]) -> list[Metric]:
    """prometheus-client families for merged metrics."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    out: list[Metric] = []
    for metric in merged:
        labels = metric["labels"]
        if metric["kind"] == "counter":
            family: Metric = CounterMetricFamily(metric["name"], metric["help"], labels=labels)
        elif metric["kind"] == "gauge":
            family = GaugeMetricFamily(metric["name"], metric["help"], labels=labels)
        else:
            family = HistogramMetricFamily(metric["name"], metric["help"], labels=labels)
        for key, value in metric["values"].items():
            if metric["kind"] == "histogram":
                cumulative, running = [], 0
                for bound, count in zip([*metric["buckets"], float("inf")], value["buckets"], strict=True):
                    running += count
                    cumulative.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
                family.add_metric(list(key), cumulative, value["sum"])
            else:
                family.add_metric(list(key), value)
        out.append(family)
    return out
