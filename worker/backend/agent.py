"""Agent checks (``agent-check agent-port agent-addr agent-send agent-inter``): a server's own agent says
how it is.

Every ``agent-inter`` the worker connects to the agent, sends ``agent-send``
and reads one line of words separated by spaces, tabs or commas: ``75%``
(weight, relative to the configured one), ``maxconn:30``, ``ready``/``drain``/
``maint`` (admin state), ``up``/``down``/``stopped``/``fail`` (health), text
after ``#`` being a description; a line not ended by CR or LF is ignored.
An agent that cannot be reached changes nothing (the regular health check
tests connectivity, as in HAProxy), but its failure is logged with ``option
log-health-checks`` as the "Agent check for server ..." lines are.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..netutil import connect
from .dial import connect_error_text
from .state import MAX_WEIGHT, AdminState, CheckResult, OpState, log_check, set_admin, set_down, set_up

REPLY_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class AgentSpec:
    port: int
    addr: str | None = None
    send: bytes = b""
    inter: float = 2.0


def parse_agent(options: Mapping[str, str], agent_check: bool, parse_time: Callable[[str], float],
                default_inter: float) -> AgentSpec | None:
    """The agent settings of a server line, or None without ``agent-check``; raises ValueError."""
    if not agent_check:
        return None
    port = options.get("agent-port")
    if port is None or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("'agent-check' needs 'agent-port <port>' (a port number).")
    inter = parse_time(options["agent-inter"]) if "agent-inter" in options else default_inter
    if inter <= 0:
        raise ValueError("'agent-inter' has to be > 0.")
    return AgentSpec(int(port), options.get("agent-addr"), options.get("agent-send", "").encode("latin-1"), inter)


def run_agent(proxy: Any, server: Any, spec: AgentSpec, timeout: float, logger: Any) -> None:
    """One agent exchange: its reply (if any) is applied to *server*, its result logged as HAProxy does."""
    started = time.monotonic()
    try:
        line = _ask(server, spec, timeout)
    except TimeoutError as exc:
        status = "L7TOUT" if exc.args == ("read",) else "L4TOUT"
        _record(proxy, server, CheckResult(status, duration_ms=_since(started)), logger)
        return
    except OSError as exc:
        _record(proxy, server, CheckResult("L4CON", info=connect_error_text(exc), duration_ms=_since(started)),
                logger)
        return
    if line is not None:
        apply_reply(proxy, server, line, logger, _since(started))


def _ask(server: Any, spec: AgentSpec, timeout: float) -> str | None:
    """The agent's first line, read within *timeout* in all (a slow agent cannot hold the check longer);
    None when it closed before ending a line.  Raises TimeoutError("read") for a silent agent."""
    deadline = time.monotonic() + timeout
    with connect(spec.addr or server.host, spec.port, timeout) as sock:
        if spec.send:
            sock.sendall(spec.send)
        data = b""
        while len(data) < REPLY_LIMIT:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                chunk = sock.recv(REPLY_LIMIT - len(data))
            except TimeoutError:
                raise TimeoutError("read") from None
            if not chunk:
                break
            data += chunk
            if re.search(b"[\r\n]", data):
                return re.split(b"[\r\n]", data, maxsplit=1)[0].decode("latin-1")
    return None


@dataclass(slots=True)
class AgentReply:
    """The words of one agent line by kind; for each kind the last word wins, as in HAProxy."""

    health: str = ""
    admin: str = ""
    weight: str = ""
    maxconn: str = ""
    error: str = ""
    description: str = ""


def parse_reply(line: str) -> AgentReply:
    """Sort the words (separated by spaces, tabs or commas) of an agent's line; text after ``#`` is a
    description, and the first word that means nothing is kept as an error."""
    words, _, description = line.partition("#")
    reply = AgentReply(description=description.strip(" \t"))
    for word in (w for w in re.split(r"[ \t,]+", words) if w):
        lowered = word.lower()
        if lowered in ("up", "down", "stopped", "fail"):
            reply.health = word
        elif lowered in ("ready", "drain", "maint"):
            reply.admin = lowered
        elif word[0].isdigit() and "%" in word:
            reply.weight = word
        elif lowered.startswith("maxconn:"):
            reply.maxconn = word[8:]
        elif not reply.error:
            reply.error = word
    return reply


def apply_reply(proxy: Any, server: Any, line: str, logger: Any, duration_ms: int = 0) -> None:
    """Apply an agent's line in HAProxy's order: admin state, weight, maxconn, then health."""
    reply = parse_reply(line)
    if reply.admin:
        set_admin(proxy, server, AdminState(reply.admin.upper()), logger)
    warning = ""
    if reply.weight:
        warning = _set_weight(server, reply.weight)
    if reply.maxconn:
        if reply.maxconn.isdigit():
            server.maxconn = int(reply.maxconn)
        else:
            warning = warning or "Integer value expected for maxconn."
    if reply.health:
        passed = reply.health.lower() == "up"
        server.agent_health = 1 if passed else 0
        message = reply.description
        if not message or passed:
            message = reply.error or warning or message
        info = f"via agent : {reply.health}" + (f" ({message})" if message else "")
        _record(proxy, server, CheckResult("L7OK" if passed else "L7STS", 0, info, duration_ms), logger)


def _set_weight(server: Any, word: str) -> str:
    """A ``75%`` word: the weight relative to the configured one; returns a warning when it cannot apply."""
    digits = re.match(r"\d+", word)
    if digits is None or word[digits.end():] != "%":
        return "Trailing garbage in weight string"
    server.weight = min(server.iweight * int(digits.group()) // 100, MAX_WEIGHT)
    return ""


def _record(proxy: Any, server: Any, result: CheckResult, logger: Any) -> None:
    """The agent's part of HAProxy's check status: its own counter (rise 1, fall 1), its log line, then the
    server's state.  An agent that cannot be reached only logs: the health check judges connectivity."""
    previous, server.agent_status = server.agent_status, result.status
    each = log_check(proxy, server, "Agent", result, result.status != previous, (server.agent_health, 1, 1),
                     logger)
    reason = None if each else result.reason()
    if result.status == "L7STS" and server.op_state != OpState.DOWN:
        set_down(proxy, server, logger, reason)
    elif (result.passed and server.op_state != OpState.UP and server.admin_state != AdminState.MAINT
          and (not server.check or server.check_health >= server.check_rise)):
        set_up(proxy, server, logger, reason)


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
