"""Per-worker counters and the snapshot the master sums over workers.

A snapshot is plain data (JSON-ready) so it can cross the control socket;
``show stat``, ``show info`` and the Prometheus exporter all read merged
snapshots, so they always agree.  Counters are summed, states (server
status, weight, check result) are taken from the first worker.
"""

from __future__ import annotations

import os
import time
from typing import Any

from . import counters
from .proxy import Proxy
from .rates import RateMeter

SERVER_STATE = ("op_state", "admin_state", "weight", "backup", "check", "check_status", "check_code",
                "check_duration", "check_failures", "check_downs", "last_change", "host", "port", "maxconn",
                "iweight", "disabled", "check_health", "check_rise", "use_ssl", "maxqueue", "pool_max_conn", "fqdn",
                "dns_maint", "check_fall", "check_info")


def _counted(counters: Any, rates: RateMeter | None) -> dict[str, Any]:
    values = counters.as_dict()
    if rates is not None:
        values.update(rates.cells(counters))
    return values


def server_snapshot(proxy: Proxy, server: Any, rates: RateMeter | None = None) -> dict[str, Any]:
    state = {name: getattr(server, name, None) for name in SERVER_STATE}  # last_change: system-wide monotonic
    return {"name": server.name, "id": server.id, "state": state,
            "counters": _counted(proxy.counters_of(server), rates)}


def proxy_snapshot(proxy: Proxy, rates: RateMeter | None = None) -> dict[str, Any]:
    return {"name": proxy.name, "id": proxy.id, "mode": proxy.mode, "frontend": proxy.has_frontend,
            "backend": proxy.has_backend, "maxconn": proxy.maxconn, "fullconn": proxy.fullconn,
            "fe": _counted(proxy.fe_counters, rates),
            "be": _counted(proxy.be_counters, rates),
            "servers": [server_snapshot(proxy, s, rates) for s in proxy.servers],
            "listeners": listener_names(proxy), "listener_addrs": proxy.bind_addresses,
            "paused": proxy.paused, "stopped": proxy.stopped}


def listener_names(proxy: Proxy) -> list[str]:
    """The listeners ``option socket-stats`` counts apart: a bind's ``name``, else ``sock-<id>``."""
    if not proxy.has_frontend or not proxy.options.get("socket-stats"):
        return []
    return [name or f"sock-{n}" for n, name in enumerate(proxy.bind_names, start=1)]


def frontend_status(stopped: bool | None, paused: bool | None) -> str:
    """A frontend's status: STOP once Lua's Proxy:stop() closed it, PAUSED while ``disable frontend`` or
    Proxy:pause() holds it, else OPEN (haproxy 2.6.12's show stat and Proxy:get_stats())."""
    if stopped:
        return "STOP"
    return "PAUSED" if paused else "OPEN"


def listener_status(maxconn: int | None, current: int) -> str:
    """The status of a frontend's listeners: FULL at its maxconn, else OPEN (haproxy 2.6.12 says OPEN for a
    paused or stopped frontend's listeners too; luaproxy has no WAITING, i.e. limited, state)."""
    return "FULL" if maxconn and current >= maxconn else "OPEN"


def snapshot(proxies: list[Proxy], index: int, started: float, extra: dict[str, Any] | None = None,
             rates: RateMeter | None = None) -> dict[str, Any]:
    """This worker's counters: process info, one entry per proxy in configuration order, extras (Lua)."""
    return {"pid": os.getpid(), "index": index, "uptime": time.time() - started,
            "proxies": [proxy_snapshot(p, rates) for p in proxies], **(extra or {})}


def merge(snapshots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sum workers' proxies side by side and server by server (every worker runs the same config)."""
    if not snapshots:
        return []
    merged = [_copy(p) for p in snapshots[0]["proxies"]]
    for other in snapshots[1:]:
        for total, proxy in zip(merged, other["proxies"], strict=True):
            counters.add(total["fe"], proxy["fe"])
            counters.add(total["be"], proxy["be"])
            by_name = {s["name"]: s for s in proxy["servers"]}  # 'add/del server' may be on its way
            for total_server in total["servers"]:
                server = by_name.get(total_server["name"])
                if server is not None:
                    counters.add(total_server["counters"], server["counters"])
    return merged


def _copy(proxy: dict[str, Any]) -> dict[str, Any]:
    def deep(counter: dict[str, Any]) -> dict[str, Any]:
        return {**counter, "responses": dict(counter["responses"])}

    return {**proxy, "fe": deep(proxy["fe"]), "be": deep(proxy["be"]),
            "servers": [{**s, "counters": deep(s["counters"])} for s in proxy["servers"]]}


def retired(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A dead worker's last snapshot as it keeps counting: its totals, none of its live sessions."""
    def closed(counters: dict[str, Any]) -> dict[str, Any]:
        return {**counters, "current": 0, "rate": 0, "req_rate": 0}

    proxies = [{**p, "fe": closed(p["fe"]), "be": closed(p["be"]),
                "servers": [{**s, "counters": closed(s["counters"])} for s in p["servers"]]}
               for p in snapshot["proxies"]]
    return {**snapshot, "proxies": proxies}
