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
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..netutil import is_ip_literal
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
    "L6OK": "Layer6 check passed",
    "L6TOUT": "Layer6 timeout",
    "L6RSP": "Layer6 invalid response",
    "L7OK": "Layer7 check passed",
    "L7TOUT": "Layer7 timeout",
    "L7RSP": "Layer7 invalid response",
    "L7STS": "Layer7 wrong status",
    "L7OKC": "Layer7 check conditionally passed",
    "SOCKERR": "Socket error",
}
PASSED = ("L4OK", "L6OK", "L7OK", "L7OKC")
EMERG, ALERT, NOTICE, INFO = 0, 1, 5, 6
"""The syslog levels HAProxy sends server events at."""


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
    each = log_check(proxy, server, "Health", result, moved or result.status != previous,
                     (server.check_health, server.check_rise, server.check_fall), logger)
    reason = None if each else result.reason()
    if server.op_state == OpState.UP and server.check_health == 0:
        set_down(proxy, server, logger, reason, now)
    elif (server.op_state == OpState.DOWN and server.check_health >= server.check_rise
          and (server.agent is None or not server.agent_enabled or server.agent_health > 0)):
        set_up(proxy, server, logger, reason, now)


def log_check(proxy: Any, server: Server, kind: str, result: CheckResult, changed: bool,
              counter: tuple[int, int, int], logger: Any) -> bool:
    """With ``option log-health-checks``, the line HAProxy logs when a check's status or its counter
    (health, rise, fall) moved: "Health check for server ..." or "Agent check for server ...".
    Returns whether the option is on (then state changes are logged without the check's reason)."""
    each = bool(proxy.options.get("log-health-checks"))
    if each and changed:
        verdict = "succeeded" if result.passed else "failed"
        report(proxy, logger, NOTICE,
               f"{kind} check for {'backup ' if server.backup else ''}server {proxy.name}/{server.name} "
               f"{verdict}, {result.reason()}, status: {_counter_text(server, *counter)}.", mail=INFO)
    return each


def set_down(proxy: Any, server: Server, logger: Any, reason: str | None = None, now: float | None = None) -> None:
    """Checks took *server* out of the farm; the alert says when nothing is left to balance to."""
    before = sum(counts(proxy.servers))
    _change(server, op=OpState.DOWN, now=now)
    server.check_downs += 1
    detail = f", {reason}" if reason else ""
    report(proxy, logger, ALERT, f"{_title(proxy, server)} is DOWN{detail}. {_left(proxy, server)}", mail=ALERT)
    _alert_if_empty(proxy, logger, before)
    for backend, tracker in reversed(server.trackers):
        if tracker.op_state == OpState.UP:
            set_down(backend, tracker, logger, f"via {proxy.name}/{server.name}", now)


def set_up(proxy: Any, server: Server, logger: Any, reason: str | None = None, now: float | None = None) -> None:
    """Checks brought *server* back; HAProxy words it with the farm's new head count."""
    _change(server, op=OpState.UP, now=now)
    detail = f", {reason}" if reason else ""
    report(proxy, logger, NOTICE, f"{_title(proxy, server)} is UP{detail}. {_online(proxy)}", mail=NOTICE)
    for backend, tracker in reversed(server.trackers):
        if tracker.op_state == OpState.DOWN:
            set_up(backend, tracker, logger, f"via {proxy.name}/{server.name}", now)


def _follow_admin(server: Server, state: AdminState, logger: Any, now: float | None) -> None:
    """Servers tracking *server* enter maintenance with it and leave it with it (newest tracker first)."""
    for backend, tracker in reversed(server.trackers):
        if state == AdminState.MAINT and tracker.admin_state != AdminState.MAINT:
            tracker.inherited_maint = True
            set_admin(backend, tracker, AdminState.MAINT, logger, now)
        elif state != AdminState.MAINT and tracker.inherited_maint:
            tracker.inherited_maint = False
            set_admin(backend, tracker, AdminState.READY, logger, now)


def set_admin(proxy: Any, server: Server, state: AdminState, logger: Any, now: float | None = None) -> None:
    """READY / MAINT / DRAIN from the management socket; leaving MAINT restarts checks at ``rise``."""
    old = server.admin_state
    if state == old:
        return
    _set_admin(proxy, server, state, logger, now)
    if (state == AdminState.MAINT) != (old == AdminState.MAINT):
        _follow_admin(server, state, logger, now)


def _set_admin(proxy: Any, server: Server, state: AdminState, logger: Any, now: float | None) -> None:
    old = server.admin_state
    title = _title(proxy, server)
    if state == AdminState.MAINT:
        before = sum(counts(proxy.servers))
        was_down = server.op_state == OpState.DOWN
        _change(server, admin=state, now=now)
        server.check_health = 0
        if was_down:
            report(proxy, logger, NOTICE, f"{title} was DOWN and now enters maintenance.")
            return
        server.check_downs += 1
        report(proxy, logger, ALERT, f"{title} is going DOWN for maintenance. {_left(proxy, server)}")
        _alert_if_empty(proxy, logger, before)
    elif old == AdminState.MAINT:
        if server.check:
            server.check_health = server.check_rise
        _change(server, op=OpState.UP, admin=state, now=now)
        report(proxy, logger, NOTICE, f"{title} is UP/{state} (leaving forced maintenance).")
        if state == AdminState.DRAIN:
            report(proxy, logger, NOTICE, f"{title} remains in forced drain mode.")
    elif state == AdminState.DRAIN:
        _change(server, admin=state, now=now)
        report(proxy, logger, NOTICE, f"{title} enters drain state. {_online(proxy)}", mail=NOTICE)
    else:
        _change(server, admin=state, now=now)
        report(proxy, logger, NOTICE, f"{title} is {server.op_state} (leaving forced drain).")


def report(proxy: Any, logger: Any, level: int, text: str, mail: int | None = None) -> None:
    """A server event as HAProxy reports it: a warning on stderr, a line at *level* to the proxy's loggers
    and, for the events HAProxy mails, an email alert at level *mail* (not for a change another process
    already reported)."""
    logger.warning(text)
    _to_loggers(proxy, logger, level, text)
    alert = getattr(proxy, "email_alert", None)
    if mail is not None and alert is not None:
        logger.email(alert, mail, text.removesuffix("."))


def _to_loggers(proxy: Any, logger: Any, level: int, text: str) -> None:
    loggers = getattr(proxy.access_log, "loggers", ())
    if loggers:
        logger.send(loggers, level, text)


def counts(servers: list[Server]) -> tuple[int, int]:
    """(usable active servers, usable backup servers): the numbers HAProxy logs."""
    active = sum(1 for s in servers if s.usable and not s.backup)
    backup = sum(1 for s in servers if s.usable and s.backup)
    return active, backup


def stat_status(server: Server) -> str:
    """The ``status`` column of ``show stat``: UP, "UP 2/3" (going down), "DOWN 1/2", MAINT, no check..."""
    if server.dns_maint and server.admin_state == AdminState.MAINT:
        return "MAINT (resolution)"
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


def _counter_text(server: Server, health: int, rise: int, fall: int) -> str:
    """``1/2 UP``, ``0/1 DOWN``: a check counter as the check lines show it (DRAIN for a zero weight)."""
    if health >= rise:
        return f"{health - rise + 1}/{fall} {'UP' if server.weight else 'DRAIN'}"
    return f"{health}/{rise} DOWN"


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
        _to_loggers(proxy, logger, EMERG, f"backend {proxy.name} has no server available!")


# --- runtime changes from Lua (Server:set_*) and the management socket (set server ...) ----------


class ServerChangeError(Exception):
    """A change that cannot apply; the message is haproxy 2.6's answer."""


@dataclass(frozen=True, slots=True)
class ServerChange:
    """One runtime change to a server, as the master records it and every process applies it.

    ``op`` is one of SERVER_OPS; ``value`` its argument (a state name, a weight
    string, an address...); ``origin`` names the requester in haproxy's texts.
    The management commands and Lua's Server methods build one, the master
    applies it to its own proxies (the authoritative copy a respawned worker is
    forked from, replayed by reloads), then every worker applies it too.
    """

    backend: str
    server: str
    op: str
    value: str = ""
    port: str = ""
    origin: str = "stats socket command"
    words: tuple[str, ...] = ()
    """``add server``: the address and options after the name, as typed."""

    def to_wire(self) -> dict[str, Any]:
        return {"backend": self.backend, "server": self.server, "op": self.op, "value": self.value,
                "port": self.port, "origin": self.origin, "words": list(self.words)}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ServerChange:
        return cls(data["backend"], data["server"], data["op"], data.get("value", ""), data.get("port", ""),
                   data.get("origin", "stats socket command"), tuple(data.get("words", ())))


SERVER_OPS = ("state", "weight", "maxconn", "addr", "dns", "fqdn", "health", "check", "agent", "ssl", "pin", "add",
              "del")
"""``add``/``del`` are applied by master.control.servers (they change the farm, not one server)."""
MAX_WEIGHT = 256


class QuietLogger:
    """For a change another process already logged: the state moves, nothing is written twice."""

    def warning(self, *args: Any) -> None:
        return

    alert = notice = info = send = email = warning


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """What a server change did: whether it applied, and HAProxy's text about it (an error when refused,
    the "IP changed from ..." notice for an address), without its trailing newline."""

    applied: bool
    text: str | None = None


def change_server(proxy: Any, server: Server, change: ServerChange, logger: Any,
                  now: float | None = None) -> ChangeResult:
    """Apply *change*, or refuse it with HAProxy's error text and change nothing.

    The one place where a runtime change to a server happens, for Lua's Server
    methods and the management socket's ``set server``/``enable``/``disable``
    commands alike, in the master's copy and in every worker's.
    """
    op, value = change.op, change.value
    if op == "state":
        states = {"ready": AdminState.READY, "drain": AdminState.DRAIN, "maint": AdminState.MAINT}
        if value not in states:
            return ChangeResult(False, "'set server <srv> state' expects 'ready', 'drain' and 'maint'.")
        set_admin(proxy, server, states[value], logger, now)
    elif op == "weight":
        try:
            server.weight = parse_weight(proxy, server, value)
        except ServerChangeError as exc:
            return ChangeResult(False, str(exc))
    elif op == "maxconn":
        if not value.isdigit():
            return ChangeResult(False, "Integer value expected for maxconn.")
        server.maxconn = int(value)
    elif op == "addr":
        return _set_addr(server, value, change.port, change.origin)
    elif op in ("dns", "fqdn"):
        from . import resolved  # it builds on this module's state changes

        if op == "fqdn":
            return resolved.set_fqdn(proxy, server, value, change.origin)
        return resolved.apply(proxy, server, value, change.words[0] if change.words else "", change.origin,
                              logger, now)
    elif op == "health":
        if value not in ("up", "down", "nolb", "stopping"):
            return ChangeResult(False, "'set server <srv> health' expects 'up', 'stopping', or 'down'.")
        if value == "down" and server.op_state != OpState.DOWN:
            set_down(proxy, server, logger, None, now)
        elif value != "down" and server.op_state != OpState.UP:
            set_up(proxy, server, logger, None, now)
    elif op == "pin":
        server.pinned = True
    elif op == "check":
        server.check = value == "enable"
    elif op == "agent":
        server.agent_enabled = value == "enable"
    elif op == "ssl":
        if server.ssl_tls is None:
            return ChangeResult(False, "'set server <srv> ssl' cannot be set.  default-server should define ssl "
                                       "settings")
        server.use_ssl = int(value == "on")
        server.tls = server.ssl_tls if value == "on" else None
        return ChangeResult(True, "server ssl setting updated")
    else:
        return ChangeResult(False, f"unknown server operation '{op}'.")
    return ChangeResult(True)


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
        if weight > MAX_WEIGHT:
            raise ServerChangeError("Relative weight too large.")
    else:
        weight = value
        if not 0 <= weight <= MAX_WEIGHT:
            raise ServerChangeError("Absolute weight can only be between 0 and 256 inclusive.")
    if weight not in (0, server.iweight) and not getattr(proxy.balancer, "dynamic", True):
        raise ServerChangeError("Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.")
    return weight


def _set_addr(server: Server, addr: str, port: str, origin: str) -> ChangeResult:
    if not is_ip_literal(addr):
        return ChangeResult(False, "Could not understand IP address format.")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return ChangeResult(False, "Could not understand port format.")
    notes = [f"IP changed from '{server.host}' to '{addr}'" if addr != server.host else "no need to change the addr"]
    if port:
        notes.append(f"port changed from '{server.port}' to '{port}'" if int(port) != server.port
                     else "no need to change the port")
    server.host = addr
    if port:
        server.port = int(port)
    text = f"{', '.join(notes)} by '{origin}'"
    return ChangeResult(True, text)


def find_server(proxies: Iterable[Any], backend: str, server: str) -> tuple[Any, Server] | None:
    """The backend named *backend* and its server named *server*."""
    for proxy in proxies:
        if proxy.has_backend and proxy.name == backend:
            for candidate in proxy.servers:
                if candidate.name == server:
                    return proxy, candidate
    return None


def resolve_server(proxies: list[Any], name: str) -> tuple[Any, Server]:
    """``<backend>/<server>`` as haproxy resolves it, with its answers when it cannot."""
    backend_name, slash, server_name = name.partition("/")
    if not slash:
        raise ServerChangeError("Require 'backend/server'.")
    backend = next((p for p in proxies if p.name == backend_name and p.has_backend), None)
    if backend is None:
        raise ServerChangeError("No such backend.")
    found = find_server([backend], backend_name, server_name)
    if found is None:
        raise ServerChangeError("No such server.")
    return found


def apply_server_change(proxies: list[Any], change: ServerChange, logger: Any) -> str:
    """Apply *change* to these proxies; returns haproxy's text about it, raises ServerChangeError if refused."""
    proxy, server = resolve_server(proxies, f"{change.backend}/{change.server}")
    result = change_server(proxy, server, change, logger)
    if not result.applied:
        raise ServerChangeError(result.text or "")
    return result.text or ""
