"""The master's side of the peers agents: one forked agent per enabled ``peers`` section.

The master starts them after its workers, starts a dead one again (after a
second if it died young), and on a reload replaces them so that they carry the
new generation's tables.  Each agent holds one end of a socketpair: when the
master closes its end (or dies), the agent exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from ..agent_process import fork_with_link
from ..config.peers import PeersConf
from .status import StatusBoard

QUICK_EXIT = 1.0
LEARN_WAIT = 1.0


@dataclass(slots=True)
class Running:
    pid: int
    link: socket.socket
    started: float


class PeersAgents:
    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.sections: list[PeersConf] = []
        self.tables: dict[str, Any] = {}
        self.running: dict[str, Running] = {}
        self.next_spawn: dict[str, float] = {}
        self.boards: dict[str, StatusBoard] = {}  # what each section's agent last published (kept across
        # its restarts and reloads: the next agent reads its counters from it)

    def configure(self, generation: Any) -> None:
        """The sections and tables of a (new) generation; running agents are replaced."""
        self.stop()
        self.sections = [s for s in generation.config.peers.values() if not s.disabled]
        self.tables = generation.tables.tables
        self.next_spawn = {s.name: 0.0 for s in self.sections}
        # A section that stays keeps its board: the next agent goes on from its counters.
        self.boards = {s.name: self.boards.get(s.name) or StatusBoard() for s in self.sections}

    def spawn_due(self, in_child: Callable[[], None]) -> bool:
        """Start every agent that is not running and whose restart delay is over; True if any started."""
        now = time.monotonic()
        started = False
        for section in self.sections:
            if section.name not in self.running and self.next_spawn.get(section.name, 0.0) <= now:
                self._spawn(section, in_child)
                started = True
        return started

    def await_learnt(self, timeout: float = LEARN_WAIT) -> bool:
        """At start-up, before the first workers serve: wait (at most *timeout*) until every agent has
        learnt its tables from a peer or found that none can teach it, so that a node joining a running
        fleet sticks its first requests as the others do.  False when the wait ran out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            boards = [self.boards[name].read() for name in self.running if name in self.boards]
            if all(b is not None and b.get("learnt") for b in boards):
                return True
            time.sleep(0.01)
        return False

    def _spawn(self, section: PeersConf, in_child: Callable[[], None]) -> None:
        from . import agent

        tables = [t for t in self.tables.values() if t.spec.peers == section.name]
        board = self.boards[section.name]

        def child(link: socket.socket) -> NoReturn:
            in_child()
            agent.run(link, section, tables, board)

        pid, master_end = fork_with_link(child)
        self.running[section.name] = Running(pid, master_end, time.monotonic())

    def close_links(self) -> None:
        """In a newly forked process: the agents' links are not its business."""
        for running in self.running.values():
            running.link.close()

    def reaped(self, pid: int, status: int) -> bool:
        """True when *pid* was an agent (it is started again later)."""
        for name, running in list(self.running.items()):
            if running.pid == pid:
                del self.running[name]
                running.link.close()
                if any(s.name == name for s in self.sections):
                    how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else \
                        f"status {os.WEXITSTATUS(status)}"
                    self.logger.alert(f"peers agent '{name}' (pid {pid}) exited ({how}); starting it again")
                    quick = time.monotonic() - running.started < QUICK_EXIT
                    self.next_spawn[name] = time.monotonic() + (1.0 if quick else 0.0)
                return True
        return False

    def stop(self) -> None:
        """End every agent (the caller's reaping loop collects them)."""
        for running in self.running.values():
            running.link.close()
            with contextlib.suppress(ProcessLookupError):
                os.kill(running.pid, signal.SIGTERM)
        self.running.clear()

    def status(self) -> list[dict[str, Any]]:
        """The latest snapshot of every running section's agent, in configuration order."""
        out = []
        for section in self.sections:
            board = self.boards.get(section.name)
            snapshot = board.read() if board is not None and section.name in self.running else None
            if snapshot is not None:
                out.append(snapshot)
        return out

    def update_metrics(self, metrics: Any) -> None:
        """Copy the agents' figures into the master's metrics (read at each scrape)."""
        labels = ("section", "peer")
        connected = metrics.define("luaproxy_peers_connected", "gauge",
                                   "1 while the session with this peer is established, else 0.", labels)
        sent = metrics.define("luaproxy_peers_updates_sent_total", "counter",
                              "Stick-table entries sent to this peer (since luaproxy started).", labels)
        received = metrics.define("luaproxy_peers_updates_received_total", "counter",
                                  "Stick-table entries learnt from this peer (since luaproxy started).", labels)
        sessions = metrics.define("luaproxy_peers_sessions_total", "counter",
                                  "Sessions established with this peer (since luaproxy started).", labels)
        for snapshot in self.status():
            for peer in snapshot["peers"]:
                if peer.get("local"):
                    continue
                key = {"section": snapshot["section"], "peer": peer["name"]}
                connected.set(1 if peer["session"] is not None else 0, key)
                sent.set(peer["updates_sent"], key)
                received.set(peer["updates_received"], key)
                sessions.set(peer["new_conn"], key)

    def pids(self) -> list[int]:
        return [r.pid for r in self.running.values()]
