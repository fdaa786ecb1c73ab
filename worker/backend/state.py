"""Server state changes and how HAProxy 2.6 words them.

Health and admin states change only here, so ``show stat``, the Prometheus
exporter and the logs agree.  Health follows HAProxy's counter: a checked
server starts UP with ``rise`` points, so its first failure takes it DOWN;
once UP it holds ``rise + fall - 1`` points and falls after ``fall`` failures;
from DOWN (0 points) ``rise`` successes bring it back.  Each text below was
checked against haproxy 2.6 output.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..proxy import Server


class OpState(StrEnum):
    UP = "UP"
    DOWN = "DOWN"


class AdminState(StrEnum):
    READY = "READY"
    MAINT = "MAINT"
    DRAIN = "DRAIN"


CHECK_DESCRIPTIONS = {
    "L4OK": "Layer4 check passed",
    "L4TOUT": "Layer4 timeout",
    "L4CON": "Layer4 connection problem",
    "L7OK": "Layer7 check passed",
    "L7TOUT": "Layer7 timeout",
    "L7RSP": "Layer7 invalid response",
    "L7STS": "Layer7 wrong status",
}
PASSED = ("L4OK", "L7OK")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome: HAProxy's status code, the HTTP status, the detail, the duration."""

    status: str
    code: int | None = None
    info: str = ""
    duration_ms: int = 0

    @property
    def passed(self) -> bool:
        return self.status in PASSED

    def reason(self) -> str:
        """``reason: Layer7 wrong status, code: 500, info: "X", check duration: 0ms``."""
        text = f"reason: {CHECK_DESCRIPTIONS[self.status]}"
        if self.code is not None:
            text += f", code: {self.code}"
        if self.info:
            text += f', info: "{self.info}"'
        return f"{text}, check duration: {self.duration_ms}ms"


def apply_check_result(proxy: Any, server: Server, result: CheckResult, logger: Any,
                       now: float | None = None) -> None:
    """Record a check, move the health counter, log and change state as HAProxy does.

    A result landing after the server entered maintenance is dropped: checks
    are paused there.
    """
    if server.admin_state == AdminState.MAINT:
        return
    previous = server.check_status
    server.check_status, server.check_code = result.status, result.code
    server.check_info, server.check_duration = result.info, result.duration_ms
    top = server.check_rise + server.check_fall - 1
    moved = False
    if result.passed and server.check_health < top:
        server.check_health += 1
        if server.check_health >= server.check_rise:
            server.check_health = top
        moved = True
    elif not result.passed and server.check_health > 0:
        server.check_failures += 1
        server.check_health -= 1
        if server.check_health < server.check_rise:
            server.check_health = 0
        moved = True
    each = bool(proxy.options.get("log-health-checks"))
    if each and (moved or result.status != previous):
        verdict = "succeeded" if result.passed else "failed"
        logger.warning(f"Health check for {'backup ' if server.backup else ''}server {proxy.name}/{server.name} "
                       f"{verdict}, {result.reason()}, status: {_health_text(server)}.")
    reason = None if each else result.reason()
    if server.op_state == OpState.UP and server.check_health == 0:
        set_down(proxy, server, logger, reason, now)
    elif server.op_state == OpState.DOWN and server.check_health >= server.check_rise:
        set_up(proxy, server, logger, reason, now)


def set_down(proxy: Any, server: Server, logger: Any, reason: str | None = None, now: float | None = None) -> None:
    """Checks took *server* out of the farm; the alert says when nothing is left to balance to."""
    before = sum(counts(proxy.servers))
    _change(server, op=OpState.DOWN, now=now)
    server.check_downs += 1
    detail = f", {reason}" if reason else ""
    logger.warning(f"{_title(proxy, server)} is DOWN{detail}. {_left(proxy, server)}")
    _alert_if_empty(proxy, logger, before)


def set_up(proxy: Any, server: Server, logger: Any, reason: str | None = None, now: float | None = None) -> None:
    """Checks brought *server* back; HAProxy words it with the farm's new head count."""
    _change(server, op=OpState.UP, now=now)
    detail = f", {reason}" if reason else ""
    logger.warning(f"{_title(proxy, server)} is UP{detail}. {_online(proxy)}")


def set_admin(proxy: Any, server: Server, state: AdminState, logger: Any, now: float | None = None) -> None:
    """READY / MAINT / DRAIN from the management socket; leaving MAINT restarts checks at ``rise``."""
    old = server.admin_state
    if state == old:
        return
    title = _title(proxy, server)
    if state == AdminState.MAINT:
        before = sum(counts(proxy.servers))
        was_down = server.op_state == OpState.DOWN
        _change(server, admin=state, now=now)
        server.check_health = 0
        if was_down:
            logger.warning(f"{title} was DOWN and now enters maintenance.")
            return
        server.check_downs += 1
        logger.warning(f"{title} is going DOWN for maintenance. {_left(proxy, server)}")
        _alert_if_empty(proxy, logger, before)
    elif old == AdminState.MAINT:
        if server.check:
            server.check_health = server.check_rise
        _change(server, op=OpState.UP, admin=state, now=now)
        logger.warning(f"{title} is UP/{state} (leaving forced maintenance).")
        if state == AdminState.DRAIN:
            logger.warning(f"{title} remains in forced drain mode.")
    elif state == AdminState.DRAIN:
        _change(server, admin=state, now=now)
        logger.warning(f"{title} enters drain state. {_online(proxy)}")
    else:
        _change(server, admin=state, now=now)
        logger.warning(f"{title} is {server.op_state} (leaving forced drain).")


def counts(servers: list[Server]) -> tuple[int, int]:
    """(usable active servers, usable backup servers): the numbers HAProxy logs."""
    active = sum(1 for s in servers if s.usable and not s.backup)
    backup = sum(1 for s in servers if s.usable and s.backup)
    return active, backup


def stat_status(server: Server) -> str:
    """The ``status`` column of ``show stat``: UP, "UP 2/3" (going down), "DOWN 1/2", MAINT, no check..."""
    if server.admin_state != AdminState.READY:
        return str(server.admin_state)
    if not server.check:
        return "no check" if server.op_state == OpState.UP else str(server.op_state)
    top = server.check_rise + server.check_fall - 1
    if server.op_state == OpState.UP:
        return "UP" if server.check_health >= top else f"UP {_health_fraction(server)}"
    return "DOWN" if server.check_health == 0 else f"DOWN {_health_fraction(server)}"


def _health_fraction(server: Server) -> str:
    """Failures left before DOWN ("2/3") while UP, successes gathered toward UP ("1/2") while DOWN."""
    if server.check_health >= server.check_rise:
        return f"{server.check_health - server.check_rise + 1}/{server.check_fall}"
    return f"{server.check_health}/{server.check_rise}"


def _health_text(server: Server) -> str:
    return f"{_health_fraction(server)} {'UP' if server.check_health >= server.check_rise else 'DOWN'}"


def _change(server: Server, op: OpState | None = None, admin: AdminState | None = None,
            now: float | None = None) -> None:
    """Apply a state change; time spent DOWN or in maintenance adds to ``downtime``."""
    now = time.monotonic() if now is None else now
    if _out_of_service(server) and server.last_change:
        server.downtime += now - server.last_change
    if op is not None:
        server.op_state = op
    if admin is not None:
        server.admin_state = admin
    server.last_change = now


def _out_of_service(server: Server) -> bool:
    return server.op_state == OpState.DOWN or server.admin_state == AdminState.MAINT


def _title(proxy: Any, server: Server) -> str:
    return f"{'Backup ' if server.backup else ''}Server {proxy.name}/{server.name}"


def _left(proxy: Any, server: Server) -> str:
    active, backup = counts(proxy.servers)
    return (f"{active} active and {backup} backup servers left.{_on_backup(active, backup)} "
            f"{server.current_conns} sessions active, 0 requeued, 0 remaining in queue.")


def _online(proxy: Any) -> str:
    active, backup = counts(proxy.servers)
    return (f"{active} active and {backup} backup servers online.{_on_backup(active, backup)} "
            "0 sessions requeued, 0 total in queue.")


def _on_backup(active: int, backup: int) -> str:
    return " Running on backup." if backup and not active else ""


def _alert_if_empty(proxy: Any, logger: Any, before: int) -> None:
    if before and not sum(counts(proxy.servers)):
        logger.alert(f"backend '{proxy.name}' has no server available!")


# --- runtime changes (management socket, Lua) -----------------------------------------------------


class ServerChangeError(Exception):
    """A change that cannot apply; the message is haproxy 2.6's answer."""


@dataclass(frozen=True, slots=True)
class ServerChange:
    """One runtime change to a server, as the master records it and every process applies it.

    The management commands and Lua's Server methods build one, the master
    applies it to its own proxies (the authoritative copy a respawned worker is
    forked from, carried over by reloads), then every worker applies it too.
    """

    backend: str
    server: str
    admin: str | None = None  # READY, DRAIN or MAINT
    weight: int | None = None  # absolute, already checked
    host: str | None = None
    port: int | None = None
    origin: str = "stats socket command"

    def to_wire(self) -> dict[str, Any]:
        return {"backend": self.backend, "server": self.server, "admin": self.admin, "weight": self.weight,
                "host": self.host, "port": self.port, "origin": self.origin}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ServerChange:
        return cls(data["backend"], data["server"], data.get("admin"), data.get("weight"), data.get("host"),
                   data.get("port"), data.get("origin", "stats socket command"))

    def merged(self, later: ServerChange) -> ServerChange:
        """This change followed by *later*: what a reload must replay."""
        def pick(field: str) -> Any:
            value = getattr(later, field)
            return getattr(self, field) if value is None else value

        return ServerChange(self.backend, self.server, pick("admin"), pick("weight"), pick("host"), pick("port"))


def find_server(proxies: list[Any], name: str) -> tuple[Any, Server]:
    """``<backend>/<server>`` as haproxy resolves it, with its answers when it cannot."""
    backend_name, slash, server_name = name.partition("/")
    if not slash:
        raise ServerChangeError("Require 'backend/server'.")
    backend = next((p for p in proxies if p.name == backend_name and p.has_backend), None)
    if backend is None:
        raise ServerChangeError("No such backend.")
    server = next((s for s in backend.servers if s.name == server_name), None)
    if server is None:
        raise ServerChangeError("No such server.")
    return backend, server


def parse_weight(proxy: Any, server: Server, text: str) -> int:
    """``set weight``'s value: absolute (0-256) or ``N%`` of the configured weight; static algorithms
    (static-rr, map-based hashing) only take 0% and 100%."""
    number = re.match(r"[+-]?\d+", text)
    if number is None:
        raise ServerChangeError("Empty weight string empty or preceded by garbage")
    rest, value = text[number.end():], int(number.group())
    if rest not in ("", "%"):
        raise ServerChangeError("Trailing garbage in weight string")
    if rest == "%":
        if value < 0:
            raise ServerChangeError("Relative weight must be positive.")
        weight = server.iweight * value // 100
        if weight > 256:
            raise ServerChangeError("Relative weight too large.")
    else:
        weight = value
        if not 0 <= weight <= 256:
            raise ServerChangeError("Absolute weight can only be between 0 and 256 inclusive.")
    if weight not in (0, server.iweight) and not getattr(proxy.balancer, "dynamic", True):
        raise ServerChangeError("Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.")
    return weight


def apply_server_change(proxies: list[Any], change: ServerChange, logger: Any) -> str:
    """Apply *change* here; returns the text haproxy answers (an address change says what changed)."""
    proxy, server = find_server(proxies, f"{change.backend}/{change.server}")
    text = ""
    if change.weight is not None:
        server.weight = change.weight
    if change.host is not None:
        text = f"IP changed from '{server.host}' to '{change.host}'"
        if change.port is not None and change.port != server.port:
            text += f", port changed from '{server.port}' to '{change.port}'"
        text += f" by '{change.origin}'"
        server.host = change.host
        if change.port is not None:
            server.port = change.port
    if change.admin is not None:
        set_admin(proxy, server, AdminState(change.admin), logger)
    return text
