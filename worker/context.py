"""What every stream of a worker shares: proxies, logger, process identity, stats."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent

from . import custom_metrics, rates, stats
from .captures import ErrorCaptures
from .prometheus import StatsView
from .proxy import Proxy
from .resolvers import client as resolver_client
from .samples import Vars
from .samples.vars import describe as describe_vars
from .sessions import SessionTable
from .tls import counters as tls_counters

VERSION_LABEL = "luaproxy"


@dataclass(slots=True)
class WorkerContext:
    logger: Any
    proxies: dict[str, Proxy] = field(default_factory=dict)
    nbproc: int = 1
    index: int = 1
    bufsize: int = 16384
    all_proxies: list[Proxy] = field(default_factory=list)
    metrics: custom_metrics.MetricSet = field(default_factory=custom_metrics.MetricSet)
    maxconn: int = 0
    version: str = VERSION_LABEL
    started: float = field(default_factory=time.time)
    stats_source: Callable[[], list[dict[str, Any]]] | None = None
    """Every worker's snapshot (through the master); None: this worker alone."""
    publish_runtime: Callable[[Any], None] | None = None
    """Tells the master about a server change made here (the stats page's admin form); None: no master."""
    proc_vars: dict[str, Any] = field(default_factory=dict)
    """The ``proc.`` variables of this worker, shared by all its streams."""
    stopping: bool = False
    idle_clients: set[Any] = field(default_factory=set)
    """Keep-alive client sockets waiting for their next request: a soft stop closes them at once."""
    process: tuple[int, int] = field(init=False)
    """(nbproc, index): what each transaction is told (a field, not a tuple made again for each request)."""
    sessions: SessionTable = field(init=False)
    """Live client connections (``show sess``), ids numbered from this worker's slot."""
    listeners: list[Any] = field(default_factory=list)
    """The worker's listeners, for ``disable frontend`` / ``enable frontend``."""
    trace: Any = None
    """``-d``: the DebugTrace that prints each connection's events, as haproxy's debug mode does."""
    captures: ErrorCaptures = field(default_factory=ErrorCaptures)
    """The last invalid request of each frontend (``show errors``)."""
    health: Any = None
    """The HealthChecker, which also watches the servers ``add server`` brings."""
    maxrewrite: int = 1024
    tune: dict[str, str] = field(default_factory=dict)
    """The global ``tune.*`` settings, as written (worker.http2 reads its ``tune.h2.*``)."""
    """``tune.maxrewrite``: the part of a buffer its input leaves free for header rewrites."""

    def soft_stop(self) -> None:
        """HAProxy's soft stop: finish what is in flight, close idle keep-alive connections now."""
        self.stopping = True
        for client in list(self.idle_clients):
            client.close()
        self.idle_clients.clear()

    def __post_init__(self) -> None:
        self.sessions = SessionTable(self.index)
        self.process = (self.nbproc, self.index)

    def new_vars(self) -> Vars:
        """Variables for a new session (connection): its own ``sess.``, the worker's ``proc.``."""
        return Vars(self.proc_vars, {})

    def snapshot(self) -> dict[str, Any]:
        """This worker's counters and metrics, as the master collects them."""
        return stats.snapshot(self.all_proxies, self.index, self.started,
                              {"metrics": self.metrics.snapshot(), "proc_vars": describe_vars(self.proc_vars),
                               "loops": gevent.get_hub().loop.iteration,
                               "ssl": tls_counters.COUNTERS.as_dict(), "resolvers": resolver_client.snapshot()},
                              rates.WORKER)

    def run_rates(self) -> None:
        """The worker's once-a-second rate rotation (its own greenlet)."""
        rates.WORKER.run(lambda: self.all_proxies)

    def stats_view(self) -> StatsView:
        """Counters and metrics summed over every worker (and the master's own metrics), for the exporter."""
        snapshots = self.stats_source() if self.stats_source is not None else [self.snapshot()]
        proxies = stats.merge([s for s in snapshots if "proxies" in s])
        frontends = [p["fe"] for p in proxies if p["frontend"]]
        process = {
            "nbproc": self.nbproc, "nbthread": 1, "relative_process_id": self.index,
            "uptime_seconds": int(time.time() - self.started), "start_time_seconds": int(self.started),
            "max_connections": self.maxconn, "hard_max_connections": self.maxconn,
            "current_connections": sum(f["current"] for f in frontends),
            "connections_total": sum(f["total"] for f in frontends),
            "requests_total": sum(f["requests"] for f in frontends),
            "jobs": sum(f["current"] for f in frontends), "listeners": len(frontends), "stopping": 0,
            "version": self.version,
        }
        merged_metrics = custom_metrics.merge([s.get("metrics", []) for s in snapshots])
        tables = [{"name": p.table.name, "type": p.table.spec.type_label, "size": p.table.size,
                   "used": p.table.used()} for p in self.all_proxies if p.table is not None]
        return StatsView(proxies, process, custom_metrics.families(merged_metrics), tables)
