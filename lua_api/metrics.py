"""core.metrics: Prometheus metrics created from Lua, and luaproxy's own Lua call metrics.

In the body context a script creates metrics once::

    local hits = core.metrics.counter("app_hits_total", "Hits by path", {"path"})
    local took = core.metrics.histogram("app_seconds", "Time spent", {0.01, 0.1, 1})
    local busy = core.metrics.gauge("app_busy", "Work in progress")

then updates them from actions, tasks and services: ``hits:inc({path = "/x"})``,
``hits:inc(2, {path = "/y"})``, ``took:observe(0.05)``, ``busy:set(3)``,
``busy:inc()``, ``busy:dec()``.  The exporter sums them over workers.
"""

from __future__ import annotations

import time
from typing import Any

from luaproxy.worker.custom_metrics import Definition, MetricSet

from . import checks, contexts, runner
from .contexts import Context
from .errors import LuaApiError

RECORDED = frozenset({Context.ACTION, Context.FETCH, Context.CONVERTER, Context.SERVICE, Context.TASK})
"""Where Lua runs in workers: metrics are counted there (the master's body and init never are)."""
DURATION_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)


class Tally:
    """The successful runs of one action or service, a plain integer added to luaproxy_lua_calls_total when the
    metrics are read: counted through the observer, a run paid a call, a label key and two dict lookups."""

    __slots__ = ("count", "key")

    def __init__(self, key: tuple[str, str]) -> None:
        self.key = key
        self.count = 0


class LuaCallMetrics:
    """luaproxy_lua_calls_total / _errors_total / _duration_seconds, by context and function.

    The duration histogram is observed only when asked (``tune.lua.duration-histogram on``): a
    clock read and a bucket search on every Lua run cost more than a short action; the counters are
    always kept."""

    def __init__(self, metrics: MetricSet, durations: bool = False) -> None:
        labels = ("context", "function")
        self.calls = metrics.define("luaproxy_lua_calls_total", "counter", "Lua entry points run.", labels)
        self.errors = metrics.define("luaproxy_lua_errors_total", "counter",
                                     "Lua entry points that ended in an error or a timeout.", labels)
        self.duration = metrics.define("luaproxy_lua_duration_seconds", "histogram",
                                       "Wall time of Lua entry points (with tune.lua.duration-histogram on).",
                                       labels, DURATION_BUCKETS)
        self.observe = self._observe_timed if durations else self._count
        """The runner's observer."""
        self._timed = durations
        self._tallies: list[Tally] = []
        metrics.before_snapshot.append(self._fold)

    def tally(self, context: Context, function: str) -> Tally | None:
        """Where the runner counts the successful runs of one entry point; None when each run is observed
        (its duration is: tune.lua.duration-histogram on) or its context is not recorded."""
        if self._timed or context not in RECORDED:
            return None
        tally = Tally((context._value_, function))
        self._tallies.append(tally)
        return tally

    def _fold(self) -> None:
        for tally in self._tallies:
            if tally.count:
                self.calls.add_key(tally.key, tally.count)
                tally.count = 0

    def _count(self, run: contexts.Run, result: runner.Result) -> tuple[str, str] | None:
        """Count the run; its label key, or None for a context that is not recorded."""
        if run.context not in RECORDED:
            return None
        key = (run.context._value_, run.function)  # _value_: .value is a Python-level property
        values = self.calls.values
        values[key] = values.get(key, 0) + 1
        if result.outcome is runner.ERROR or result.outcome is runner.TIMEOUT:
            self.errors.add_key(key, 1)
        return key

    def _observe_timed(self, run: contexts.Run, result: runner.Result) -> None:
        key = self._count(run, result)
        if key is not None:
            self.duration.observe_key(key, time.monotonic() - run.started)


def _labels(value: Any, function: str, position: int) -> dict[str, str] | None:
    if value is None:
        return None
    if checks.lua_type(value) != "table":
        raise LuaApiError(f"bad argument #{position} to '{function}' (table of labels expected, "
                          f"got {checks.lua_type(value)})")
    return {checks.string(k, function, position): checks.string(v, function, position) for k, v in value.items()}


def _amount_and_labels(first: Any, second: Any, function: str) -> tuple[float, dict[str, str] | None]:
    """``m:inc()``, ``m:inc(n)``, ``m:inc({labels})`` and ``m:inc(n, {labels})``."""
    if checks.lua_type(first) == "table":
        return 1.0, _labels(first, function, 2)
    amount = checks.number(first, function, 2) if first is not None else 1.0
    return amount, _labels(second, function, 3)


def _apply(definition: Definition, action: Any, *args: Any) -> None:
    contexts.require(f"{definition.name}: updating a metric", RECORDED)
    try:
        action(*args)
    except ValueError as exc:
        raise LuaApiError(f"{definition.name}: {exc}") from None


def inc(definition: Definition, first: Any = None, second: Any = None) -> None:
    amount, labels = _amount_and_labels(first, second, "inc")
    _apply(definition, definition.add, amount, labels)


def dec(definition: Definition, first: Any = None, second: Any = None) -> None:
    if definition.kind != "gauge":
        raise LuaApiError(f"{definition.name}: only a gauge can go down")
    amount, labels = _amount_and_labels(first, second, "dec")
    _apply(definition, definition.add, -amount, labels)


def set_(definition: Definition, value: Any, labels: Any = None) -> None:
    if definition.kind != "gauge":
        raise LuaApiError(f"{definition.name}: only a gauge can be set")
    _apply(definition, definition.set, checks.number(value, "set", 2), _labels(labels, "set", 3))


def observe(definition: Definition, value: Any, labels: Any = None) -> None:
    if definition.kind != "histogram":
        raise LuaApiError(f"{definition.name}: only a histogram observes values")
    _apply(definition, definition.observe, checks.number(value, "observe", 2), _labels(labels, "observe", 3))


FUNCTIONS = {"inc": inc, "dec": dec, "set": set_, "observe": observe}


def constructors(metrics: MetricSet, new_object: Any) -> dict[str, Any]:
    """core.metrics.counter/gauge/histogram, allowed in the body context only."""

    def make(kind: str) -> Any:
        def create(name: Any, help_text: Any = "", third: Any = None, fourth: Any = None) -> Any:
            contexts.require(f"core.metrics.{kind}", frozenset({Context.BODY}))
            metric_name = checks.string(name, kind, 1)
            text = checks.string(help_text, kind, 2) if help_text is not None else ""
            buckets = None
            labels = third
            if kind == "histogram":
                buckets, labels = third, fourth
            label_names = tuple(checks.string(v, kind, 3) for v in labels.values()) if labels is not None else ()
            bucket_values = tuple(checks.number(v, kind, 3) for v in buckets.values()) if buckets else None
            try:
                definition = metrics.define(metric_name, kind, text, label_names, bucket_values)
            except ValueError as exc:
                raise LuaApiError(f"core.metrics.{kind}: {exc}") from None
            return new_object(definition)

        return create

    return {kind: make(kind) for kind in ("counter", "gauge", "histogram")}
