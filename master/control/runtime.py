"""Runtime changes to servers and frontends: one wire form, one way to apply each, no I/O.

Server changes (``set server``, ``set weight``, ``disable server``, Lua's
Server methods) are ``ServerChange`` values applied by
``worker.backend.state.apply_server_change``; frontend changes (``set maxconn
frontend``, ``disable/enable frontend``) are ``FrontendChange`` values applied
here.  The master applies each to its own proxies first, then every worker
applies the same value to its copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from luaproxy.worker.backend.state import ServerChange, apply_server_change

from ..dynamic_servers import add_server, del_server


@dataclass(frozen=True, slots=True)
class FrontendChange:
    frontend: str
    maxconn: int | None = None
    paused: bool | None = None
    stopped: bool | None = None
    """Proxy:stop(): the frontend's listening sockets close in every process (a reload binds them again)."""

    def to_wire(self) -> dict[str, Any]:
        return {"frontend": self.frontend, "maxconn": self.maxconn, "paused": self.paused, "stopped": self.stopped}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> FrontendChange:
        return cls(data["frontend"], data.get("maxconn"), data.get("paused"), data.get("stopped"))

    def merged(self, later: FrontendChange) -> FrontendChange:
        return FrontendChange(self.frontend, self.maxconn if later.maxconn is None else later.maxconn,
                              self.paused if later.paused is None else later.paused)


Change = ServerChange | FrontendChange


def to_wire(change: Change) -> dict[str, Any]:
    return {"kind": "server" if isinstance(change, ServerChange) else "frontend", **change.to_wire()}


def from_wire(data: dict[str, Any]) -> Change:
    return ServerChange.from_wire(data) if data.get("kind") == "server" else FrontendChange.from_wire(data)


def find_frontend(proxies: list[Any], name: str) -> Any:
    return next((p for p in proxies if p.name == name and p.has_frontend), None)


def apply(proxies: list[Any], change: Change, logger: Any, listeners: list[Any] = (), health: Any = None) -> str:
    """Apply *change* to these proxies (and, in a worker, to its listeners and health checks); returns the
    reply text."""
    if isinstance(change, ServerChange):
        if change.op == "add":
            return add_server(proxies, change, health)
        if change.op == "del":
            return del_server(proxies, change)
        return apply_server_change(proxies, change, logger)
    proxy = find_frontend(proxies, change.frontend)
    if proxy is None:
        return ""
    if change.stopped:
        return _stop(proxy, logger, listeners)
    if change.maxconn is not None:
        proxy.maxconn = change.maxconn
    if change.paused is not None and change.paused != proxy.paused:
        proxy.paused = change.paused
        logger.warning(f"{'Paused' if change.paused else 'Resumed'} frontend {proxy.name}.")
    for listener in listeners:
        if listener.frontend is proxy and not proxy.stopped:
            listener.pause(proxy.paused)
    return ""


def _stop(proxy: Any, logger: Any, listeners: list[Any]) -> str:
    """Close the frontend's listeners here for good (the master closes its sockets: see Arbiter)."""
    if proxy.stopped:
        return ""
    proxy.stopped = proxy.paused = True
    logger.warning(f"Proxy {proxy.name} stopped.")
    for listener in listeners:
        if listener.frontend is proxy:
            listener.close()
    return ""
