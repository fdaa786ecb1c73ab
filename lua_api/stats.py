"""Proxy:get_stats(), Server:get_stats() and Listener:get_stats(): the ``show stat`` row of the object.

haproxy 2.6 fills these tables with the same function as its stats socket, so they come from the same row
builders as luaproxy's ``show stat`` (master.management.formats), fed with this worker's snapshot of the proxy:
the statistics are this worker's share (``show stat`` sums every worker's).  A proxy with a backend gives its
BACKEND row, a frontend-only proxy its FRONTEND row; fields the row leaves empty are absent, the others are
integers or strings, as in haproxy.
"""

from __future__ import annotations

import time
from typing import Any

from luaproxy.master.management import formats, typed
from luaproxy.worker.backend.balance import algorithm_name
from luaproxy.worker.rates import WORKER as RATES
from luaproxy.worker.stats import listener_names, proxy_snapshot, server_snapshot


def proxy_stats(proxy: Any, maxconn: int) -> dict[str, Any]:
    snapshot = proxy_snapshot(proxy, RATES)
    if proxy.has_backend:
        cells = formats.backend_cells(snapshot, algorithm_name(proxy.balancer), time.time(), maxconn)
        return typed.stat_values("B", cells)
    return typed.stat_values("F", formats.frontend_cells(snapshot, maxconn))


def server_stats(proxy: Any, server: Any) -> dict[str, Any]:
    snapshot = {"name": proxy.name, "id": proxy.id, "mode": proxy.mode}
    return typed.stat_values("S", formats.server_cells(snapshot, server_snapshot(proxy, server, RATES), time.time()))


def listener_stats(proxy: Any, number: int) -> dict[str, Any]:
    """Listener *number* (1-based): empty unless ``option socket-stats`` counts listeners apart, as haproxy
    2.6 (whose listener has no counters then)."""
    names = listener_names(proxy)
    if number > len(names):
        return {}
    return typed.stat_values("L", formats.listener_cells(proxy_snapshot(proxy, RATES), number, names[number - 1]))
