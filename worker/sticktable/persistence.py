"""Stickiness: ``stick on``, ``stick match``, ``stick store-request`` and ``stick store-response``.

Before balancing, match rules look their key up and, when the entry names a
usable server, send the request there: by its ``server_key`` first (the
server's name, or its ``ip:port`` with ``srvkey addr``: what peers with other
server ids share), else by its ``server_id``, as HAProxy 2.6 does.  Once a
server is known, store-request keys (fetched when the request was seen) are
written with its id and key; store-response keys are fetched from the
response and written when it arrives.  ``stick on`` is a match and a
store-request together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..netutil import is_ip_literal
from .table import SharedTable


@dataclass(slots=True)
class StickRule:
    kind: str  # "on", "match", "store-request", "store-response"
    expr: Any
    table: SharedTable
    condition: Any = None

    @property
    def matches(self) -> bool:
        return self.kind in ("on", "match")

    @property
    def stores_request(self) -> bool:
        return self.kind in ("on", "store-request")

    def applies(self, txn: Any, response: bool = False) -> bool:
        return self.condition is None or self.condition.matches(txn, response)

    def key(self, txn: Any) -> bytes | None:
        smp = self.expr.evaluate(txn)
        return None if smp is None else self.table.spec.key_of(smp)


def sticky_server(backend: Any, txn: Any) -> Any:
    """The server a match rule points at (usable and not full), else None; notes the keys to store."""
    chosen = None
    pending: list[tuple[SharedTable, bytes]] = []
    for rule in backend.stick_rules:
        if rule.kind == "store-response" or not rule.applies(txn):
            continue
        key = rule.key(txn)
        if key is None:
            continue
        if rule.matches and chosen is None:
            idx = rule.table.lookup(key)
            if idx >= 0:
                server = _server_of(backend, rule.table, idx)
                if server is not None and server.usable and not server.full:
                    chosen = server
                    continue
        if rule.stores_request:
            pending.append((rule.table, key))
    txn.stick_pending = pending
    return chosen


def _server_of(backend: Any, table: SharedTable, idx: int) -> Any:
    """The backend's server an entry names: by server_key when it has one that matches, else by id."""
    key = table.server_key(idx)
    if key is not None:
        addr = table.spec.srvkey == "addr"
        found = next((s for s in backend.servers if (server_addr(s) if addr else s.name) == key), None)
        if found is not None:
            return found
    sid = table.value(idx, "server_id")
    return next((s for s in backend.servers if s.id == sid), None) if sid else None


def server_addr(server: Any) -> str:
    """A server's ``srvkey addr`` key, ``ip:port`` as haproxy writes it ('' while it has no address)."""
    return f"{server.host}:{server.port}" if is_ip_literal(server.host) else ""


def store_request(txn: Any, server: Any) -> None:
    """The server is known: write the pending store-request keys with its id."""
    for table, key in getattr(txn, "stick_pending", None) or ():
        _store(table, key, server)
    txn.stick_pending = None


def store_response(backend: Any, txn: Any) -> None:
    """After the response head: store-response rules write their keys with the server's id."""
    server = txn.server
    if server is None:
        return
    for rule in backend.stick_rules:
        if rule.kind == "store-response" and rule.applies(txn, True):
            key = rule.key(txn)
            if key is not None:
                _store(rule.table, key, server)


def _store(table: SharedTable, key: bytes, server: Any) -> None:
    table.stick(key, server.id, server_addr(server) if table.spec.srvkey == "addr" else server.name)
