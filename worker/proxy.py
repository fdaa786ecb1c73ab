"""Proxies and servers as a worker runs them: compiled rules, live counters.

A ``listen`` section is one Proxy with both a frontend and a backend side, as
in HAProxy; its frontend's default backend is itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .rules.verdict import Verdict

Action = Callable[[Any], Verdict]


@dataclass(slots=True)
class Rule:
    """One compiled rule: an action and an optional condition (``if``/``unless``)."""

    action: Action
    condition: Any = None
    response: bool = False
    where: str = ""

    def applies(self, ctx: Any) -> bool:
        return self.condition is None or self.condition.matches(ctx, self.response)


@dataclass(slots=True)
class SwitchingRule:
    """``use_backend NAME [if|unless cond]``."""

    backend: Proxy
    condition: Any = None

    def applies(self, ctx: Any) -> bool:
        return self.condition is None or self.condition.matches(ctx)


@dataclass(slots=True, eq=False)
class Server:
    name: str
    host: str
    port: int
    weight: int = 1
    maxconn: int = 0
    backup: bool = False
    disabled: bool = False
    check: bool = False
    id: int = 0
    current_conns: int = 0
    total_conns: int = 0

    @property
    def usable(self) -> bool:
        return not self.disabled and self.weight > 0


@dataclass(slots=True, eq=False)
class Proxy:
    name: str
    id: int
    mode: str
    has_frontend: bool
    has_backend: bool
    timeouts: dict[str, float] = field(default_factory=dict)
    rules: dict[str, list[Rule]] = field(default_factory=dict)
    inspect_delay: dict[str, float] = field(default_factory=dict)
    switching_rules: list[SwitchingRule] = field(default_factory=list)
    default_backend: Proxy | None = None
    servers: list[Server] = field(default_factory=list)
    balancer: Any = None
    retries: int = 3
    maxconn: int = 0
    options: dict[str, bool] = field(default_factory=dict)
    error_pages: Any = None
    current_conns: int = 0
    total_conns: int = 0

    def ruleset(self, name: str) -> list[Rule]:
        return self.rules.get(name, [])

    def timeout(self, name: str, default: float | None = None) -> float | None:
        return self.timeouts.get(name, default)
