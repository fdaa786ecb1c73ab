"""Agent checks (``agent-check agent-port agent-addr agent-send agent-inter``): a server's own agent says
how it is.

Every ``agent-inter`` the worker connects to the agent, sends ``agent-send``
and reads one line of words separated by spaces, tabs or commas: ``75%``
(weight, relative to the configured one), ``maxconn:30``, ``ready``/``drain``/
``maint`` (admin state), ``up``/``down``/``stopped``/``fail`` (health), text
after ``#`` being a description.  An agent that cannot be reached changes
nothing: the regular health check tests connectivity, as in HAProxy.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gevent import socket as gsocket

from .state import AdminState, OpState, set_admin, set_down, set_up

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
    """One agent exchange; its reply (if any) is applied to *server*."""
    reply = _ask(server, spec, timeout)
    if reply:
        apply_reply(proxy, server, reply, logger)


def _ask(server: Any, spec: AgentSpec, timeout: float) -> str:
    """The agent's first line, read within *timeout* in all (a slow agent cannot hold the check longer)."""
    deadline = time.monotonic() + timeout
    try:
        with gsocket.create_connection((spec.addr or server.host, spec.port), timeout=timeout) as sock:
            if spec.send:
                sock.sendall(spec.send)
            data = b""
            while b"\n" not in data and len(data) < REPLY_LIMIT:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = sock.recv(REPLY_LIMIT - len(data))
                if not chunk:
                    break
                data += chunk
    except OSError:
        return ""
    return data.split(b"\n", 1)[0].decode("latin-1").strip()


def apply_reply(proxy: Any, server: Any, reply: str, logger: Any) -> None:
    """Apply each word of an agent's reply, in order, through the usual state changes."""
    words = reply.split("#", 1)[0]
    for word in (w for w in re.split(r"[ \t,]+", words) if w):
        lowered = word.lower()
        if lowered.endswith("%") and lowered[:-1].isdigit():
            server.weight = min(server.iweight * int(lowered[:-1]) // 100, 256)
        elif lowered.startswith("maxconn:") and lowered[8:].isdigit():
            server.maxconn = int(lowered[8:])
        elif lowered in ("ready", "drain", "maint"):
            set_admin(proxy, server, AdminState(lowered.upper()), logger)
        elif lowered == "up" and server.op_state != OpState.UP:
            set_up(proxy, server, logger)
        elif lowered in ("down", "stopped", "fail") and server.op_state != OpState.DOWN:
            set_down(proxy, server, logger)
