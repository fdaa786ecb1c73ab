"""Plain test doubles for backend tests: a transaction, a farm, a logger that records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from luaproxy.worker.http import Headers, RequestHead
from luaproxy.worker.proxy import Proxy, Server


@dataclass
class Txn:
    """What the balancers read of a transaction: the client address and the request head."""

    src: str | None = "192.0.2.1"
    request: RequestHead | None = None


def http_txn(target: str = "/", headers: list[tuple[str, str]] | None = None, src: str = "192.0.2.1") -> Txn:
    return Txn(src, RequestHead("GET", target, "HTTP/1.1", Headers(list(headers or []))))


def farm(*weights: int, backups: tuple[int, ...] = ()) -> list[Server]:
    """Servers s1..sN with these weights, then backups b1..bM."""
    servers = [Server(f"s{i + 1}", "127.0.0.1", 8000 + i, weight=w, id=i + 1) for i, w in enumerate(weights)]
    for j, w in enumerate(backups):
        servers.append(Server(f"b{j + 1}", "127.0.0.1", 9000 + j, weight=w, backup=True, id=len(servers) + 1))
    return servers


def proxy(servers: list[Server], name: str = "be", **options: bool) -> Proxy:
    return Proxy(name, 1, "tcp", False, True, servers=servers, options=dict(options))


def names(picks: list[Any]) -> list[str | None]:
    return [None if s is None else s.name for s in picks]


@dataclass
class RecordingLogger:
    """Keeps (level, message) pairs, the two levels server state changes use."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def warning(self, message: str) -> None:
        self.lines.append(("warning", message))

    def alert(self, message: str) -> None:
        self.lines.append(("alert", message))

    def email(self, alert: Any, level: int, message: str) -> None:
        alert.send(level, message)

    def messages(self) -> list[str]:
        return [message for _, message in self.lines]
