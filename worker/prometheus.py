"""The Prometheus exporter: HAProxy's metric families over the counters summed across workers.

The families (name, type, help) are HAProxy 2.6's own, listed once in
``prometheus_families.tsv``; values luaproxy tracks come from merged stats
snapshots, the others report HAProxy's idle value 0.  prometheus-client
renders the text format (it also ends every counter name in ``_total``,
so HAProxy's ``haproxy_process_failed_resolutions`` is exposed with that
suffix).  ``scope=`` and ``metrics=`` filter the output as HAProxy's.
prometheus-client is imported where a scrape renders: with what it imports
it costs a process about 6 MB, which a configuration without the exporter
never needs (worker.exporter loads it in the master when it has one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from .counters import STATUS_CLASSES
from .stats import listener_status

if TYPE_CHECKING:
    from prometheus_client.core import Metric

SCOPES = ("global", "frontend", "listener", "backend", "server", "sticktable")
PROXY_STATES = ("DOWN", "UP")
SERVER_STATES = ("DOWN", "UP", "MAINT", "DRAIN", "NOLB")
CHECK_STATES = ("HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
                "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK")
CHECK_ONLY = ("check_code", "check_duration_seconds", "check_status")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The text format's content type (prometheus-client's CONTENT_TYPE_PLAIN_0_0_4)."""


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    type: str
    help: str

    @property
    def scope(self) -> str:
        kind = self.name.split("_")[1]
        return "global" if kind == "process" else kind


def _load_families() -> list[Family]:
    text = resources.files(__package__).joinpath("prometheus_families.tsv").read_text()
    return [Family(*line.split("\t")) for line in text.splitlines() if line]


LISTENER_FIELDS = ("current_sessions", "max_sessions", "limit_sessions", "sessions_total", "bytes_in_total",
                   "bytes_out_total", "requests_denied_total", "responses_denied_total", "request_errors_total",
                   "status", "denied_connections_total", "denied_sessions_total", "failed_header_rewriting_total",
                   "internal_errors_total")
"""promex's listener metrics (``option socket-stats``), described as their frontend counterparts."""
LISTENER_STATES = ("WAITING", "OPEN", "FULL")
NAN = float("nan")
"""What promex shows for a field that does not apply (no check, no limit set)."""


def _with_listeners(families: list[Family]) -> list[Family]:
    """The listener families, placed after the frontend ones as promex dumps them."""
    frontend = {f.name.removeprefix("haproxy_frontend_"): f for f in families if f.scope == "frontend"}
    listener = [Family(f"haproxy_listener_{name}", frontend[name].type, frontend[name].help)
                for name in LISTENER_FIELDS if name in frontend]
    last = max(i for i, f in enumerate(families) if f.scope == "frontend")
    return [*families[: last + 1], *listener, *families[last + 1:]]


FAMILIES = _with_listeners(_load_families())


@dataclass(slots=True)
class StatsView:
    """What one scrape shows: summed proxies, process figures, extra luaproxy families."""

    proxies: list[dict[str, Any]]
    process: dict[str, Any]
    extra: list[Metric] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    """Stick tables (name, type, size, used), read from shared memory: the same in every worker."""


TABLE_FAMILIES = (("haproxy_sticktable_size", "Stick table size.", "size"),
                  ("haproxy_sticktable_used", "Number of entries used in this stick table.", "used"))


def table_metrics(tables: list[dict[str, Any]], names: set[str]) -> Iterator[Metric]:
    """promex's sticktable scope: only when the configuration has tables, latest declared first."""
    from prometheus_client.core import Metric

    for name, help_text, key in TABLE_FAMILIES:
        if tables and (not names or name in names):
            metric = Metric(name, help_text, "gauge")
            for table in reversed(tables):
                metric.add_sample(name, {"name": table["name"], "type": table["type"]}, float(table[key]))
            yield metric


def _average(counters: dict[str, Any]) -> float:
    count = counters.get("response_count", 0)
    return counters.get("response_time_total", 0.0) / count if count else 0.0


def _usable(server: dict[str, Any]) -> bool:
    state = server["state"]
    return state.get("op_state", "UP") == "UP" and state.get("admin_state", "READY") == "READY"


def _server_state(server: dict[str, Any]) -> str:
    admin = server["state"].get("admin_state") or "READY"
    return admin if admin in ("MAINT", "DRAIN") else server["state"].get("op_state") or "UP"


COUNTER_FIELDS = {
    "current_sessions": "current", "max_sessions": "max", "sessions_total": "total",
    "bytes_in_total": "bytes_in", "bytes_out_total": "bytes_out", "requests_denied_total": "denied_req",
    "responses_denied_total": "denied_resp", "request_errors_total": "failed_req",
    "http_requests_total": "requests", "connections_total": "total", "connection_errors_total": "conn_errors",
    "response_errors_total": "resp_errors", "retry_warnings_total": "retries",
    "redispatch_warnings_total": "redispatches", "loadbalanced_total": "lb_total",
    "denied_connections_total": "denied_conn", "max_session_rate": "rate_max",
    "http_requests_rate_max": "req_rate_max", "connections_rate_max": "rate_max",
}
PROCESS_FIELDS = ("nbproc", "nbthread", "relative_process_id", "uptime_seconds", "max_connections",
                  "hard_max_connections", "current_connections", "connections_total", "requests_total",
                  "stopping", "jobs", "listeners", "start_time_seconds", "max_fds", "max_sockets")


def _proxy_value(suffix: str, counters: dict[str, Any], proxy: dict[str, Any]) -> float | None:
    if suffix in COUNTER_FIELDS:
        return counters.get(COUNTER_FIELDS[suffix], 0)
    if suffix == "limit_sessions":
        return proxy.get("maxconn", 0)
    if suffix == "response_time_average_seconds":
        return _average(counters)
    return None


def _backend_value(suffix: str, proxy: dict[str, Any]) -> float | None:
    servers = proxy["servers"]
    if suffix == "downtime_seconds_total" and not servers:
        return NAN
    if suffix == "active_servers":
        return sum(1 for s in servers if _usable(s) and not s["state"].get("backup"))
    if suffix == "backup_servers":
        return sum(1 for s in servers if _usable(s) and s["state"].get("backup"))
    if suffix == "limit_sessions":
        return proxy.get("fullconn") or 1
    if suffix in ("weight", "uweight"):
        return sum(s["state"].get("weight") or 0 for s in servers if _usable(s) and not s["state"].get("backup"))
    return _proxy_value(suffix, proxy["be"], proxy)


def _server_value(suffix: str, proxy: dict[str, Any], server: dict[str, Any]) -> float | None:
    state = server["state"]
    if suffix in ("weight", "uweight"):
        return state.get("weight") or 0
    if suffix == "limit_sessions":
        return state.get("maxconn") or NAN
    if suffix in ("check_failures_total", "check_up_down_total", "downtime_seconds_total") and not state.get("check"):
        return NAN
    if suffix == "check_failures_total":
        return state.get("check_failures") or 0
    if suffix == "check_up_down_total":
        return state.get("check_downs") or 0
    if suffix == "queue_limit":
        return state.get("maxqueue") or NAN
    if suffix == "current_throttle":
        return NAN  # no slowstart: never throttled
    if suffix == "idle_connections_limit":
        limit = state.get("pool_max_conn")
        return NAN if limit is None or limit < 0 else limit
    if suffix == "check_code":
        return state.get("check_code") or 0
    if suffix == "check_duration_seconds":
        return (state.get("check_duration") or 0) / 1000.0
    return _proxy_value(suffix, server["counters"], proxy)


def _listener_view(proxy: dict[str, Any]) -> tuple[list[str], dict[str, Any], str]:
    """A frontend's listener names, the counters they show and their state, worked out once per scrape.

    Counters are kept per frontend, so a frontend's only listener shows them and several listeners show 0."""
    names = proxy.get("listeners") or []
    counters = proxy["fe"] if len(names) == 1 else {}
    return names, counters, listener_status(proxy.get("maxconn"), proxy["fe"].get("current", 0))


class _Collector:
    def __init__(self, view: StatsView, families: list[Family], extra: list[Metric]) -> None:
        self.view = view
        self.families = families
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import Metric

        self.listener_views = {id(p): _listener_view(p) for p in self.view.proxies if p["frontend"]}
        for family in self.families:
            name = family.name
            if family.type == "counter":
                name = name.removesuffix("_total")
            metric = Metric(name, family.help, family.type)
            sample_name = f"{name}_total" if family.type == "counter" else name
            for labels, value in self._samples(family):
                metric.add_sample(sample_name, labels, float(value))
            yield metric
        yield from self.extra

    def _samples(self, family: Family) -> Iterable[tuple[dict[str, str], float]]:
        suffix = family.name.split("_", 2)[2]
        if family.scope == "global":
            if suffix == "build_info":
                yield {"version": self.view.process.get("version", "")}, 1
            else:
                yield {}, self.view.process.get(suffix, 0) if suffix in PROCESS_FIELDS else 0
            return
        for proxy in self.view.proxies:
            if family.scope == "frontend" and proxy["frontend"]:
                yield from self._one(family, suffix, {"proxy": proxy["name"]}, proxy["fe"],
                                     lambda s, p=proxy: _proxy_value(s, p["fe"], p), PROXY_STATES, "UP")
            elif family.scope == "listener" and proxy["frontend"]:
                yield from self._listeners(family, suffix, proxy)
            elif family.scope == "backend" and proxy["backend"]:
                up = "UP" if any(_usable(s) for s in proxy["servers"]) or not proxy["servers"] else "DOWN"
                yield from self._one(family, suffix, {"proxy": proxy["name"]}, proxy["be"],
                                     lambda s, p=proxy: _backend_value(s, p), PROXY_STATES, up)
            elif family.scope == "server" and proxy["backend"]:
                for server in proxy["servers"]:
                    if suffix in CHECK_ONLY and not server["state"].get("check"):
                        continue
                    labels = {"proxy": proxy["name"], "server": server["name"]}
                    counters = {**server["counters"], "check_status": server["state"].get("check_status")}
                    yield from self._one(family, suffix, labels, counters,
                                         lambda s, p=proxy, v=server: _server_value(s, p, v), SERVER_STATES,
                                         _server_state(server))

    def _listeners(self, family: Family, suffix: str, proxy: dict[str, Any]) -> Iterable[tuple[dict[str, str], float]]:
        names, counters, state = self.listener_views[id(proxy)]
        if suffix == "status":
            for name in names:
                labels = {"proxy": proxy["name"], "listener": name}
                for candidate in LISTENER_STATES:
                    yield {**labels, "state": candidate}, 1 if candidate == state else 0
            return
        value = _proxy_value(suffix, counters, proxy) if names else None
        for name in names:
            yield {"proxy": proxy["name"], "listener": name}, value if value is not None else 0

    def _one(self, family: Family, suffix: str, labels: dict[str, str], counters: dict[str, Any],
             value_of: Callable[[str], float | None], states: tuple[str, ...],
             current: str) -> Iterable[tuple[dict[str, str], float]]:
        if suffix == "http_responses_total":
            for code in STATUS_CLASSES:
                yield {**labels, "code": code}, counters.get("responses", {}).get(code, 0)
        elif suffix in ("status", "agg_server_status", "agg_server_check_status"):
            for state in states if suffix == "status" else SERVER_STATES:
                yield {**labels, "state": state}, 1 if state == current else 0
        elif suffix in ("check_status", "agg_check_status"):
            last = counters.get("check_status", "")
            for state in CHECK_STATES:
                yield {**labels, "state": state}, 1 if state == last else 0
        else:
            value = value_of(suffix)
            yield labels, value if value is not None else 0


def render(view: StatsView, scopes: Iterable[str] = (), names: Iterable[str] = ()) -> bytes:
    """The exposition text for the selected scopes (all when empty) and metric names (all when empty)."""
    from prometheus_client.core import CollectorRegistry
    from prometheus_client.exposition import generate_latest

    wanted_scopes, wanted_names = set(scopes), set(names)
    families = [f for f in FAMILIES if (not wanted_scopes or f.scope in wanted_scopes)
                and (not wanted_names or f.name in wanted_names)]
    extra = [m for m in view.extra if (not wanted_names or m.name in wanted_names)
             and (not wanted_scopes or "global" in wanted_scopes)]
    if not wanted_scopes or "sticktable" in wanted_scopes:
        extra = [*table_metrics(view.tables, wanted_names), *extra]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(view, families, extra))
    return generate_latest(registry)
