"""A silent worker's queued connections, accepted by the master and handed to the live workers.

Each worker slot has its own ``SO_REUSEPORT`` socket per ``bind``, so the
kernel keeps queueing connections on a worker that is stopped (SIGSTOP),
spinning or blocked, until the watchdog kills it and a new worker takes the
socket over: seconds during which those clients wait.  Of the options (one
shared accept queue for all workers, which gevent balances badly; eBPF
steering; moving the queued connections), luaproxy moves them: the master
keeps every listening socket, so once a worker has been silent for
``DRAIN_AFTER`` (two heartbeats) it watches that worker's own sockets, accepts
what arrives there and passes each connection (its descriptor, over a
``SOCK_SEQPACKET`` socketpair made at fork, with ``SCM_RIGHTS``) to the live
workers in turn, which serve it as if they had accepted it
(``worker.handoff``).  It stops as soon as the worker beats again or is gone.
Sockets shared by every slot (UNIX sockets, inherited fds) need no help.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from typing import Any

DRAIN_AFTER = 1.0
ACCEPT_BATCH = 64
RETRY = 0.01  # a connection no live worker could take yet is offered again this soon


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(master end, worker end) of one worker's handoff channel."""
    master_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    master_end.setblocking(False)
    return master_end, worker_end


def header(frontend: str, so_id: int) -> bytes:
    """What travels with a descriptor: the listener it was accepted on."""
    return f"{so_id} {frontend}".encode()


class Drainer:
    def __init__(self, selector: selectors.BaseSelector, logger: Any) -> None:
        self.selector = selector
        self.logger = logger
        self.draining: dict[int, list[socket.socket]] = {}  # silent worker pid -> its sockets being watched
        self.targets: list[Any] = []  # live workers' handles, in turn
        self.turn = 0
        self.moved = 0
        self.held: list[tuple[socket.socket, bytes]] = []  # accepted, not yet taken: offered again, never dropped

    def update(self, handles: list[Any], listening: list[Any], now: float) -> None:
        """Watch the sockets of the workers silent for DRAIN_AFTER; stop for those that beat again or left."""
        silent = {h.pid: h for h in handles if h.ready and not h.retiring
                  and now - (h.last_beat or h.started) > DRAIN_AFTER}
        self.targets = [h for h in handles if h.pid not in silent and h.ready and not h.retiring
                        and h.handoff is not None]
        for pid in list(self.draining):
            if pid not in silent or not self.targets:
                self._stop(pid, "it answers again" if pid in {h.pid for h in handles} else "it is gone")
        for pid, handle in silent.items():
            if pid not in self.draining and self.targets:
                self._start(handle, listening)
        self._offer_held()

    def next_deadline(self, handles: list[Any]) -> float | None:
        """When the next ready worker would count as silent (the loop wakes then)."""
        due = [(h.last_beat or h.started) + DRAIN_AFTER for h in handles
               if h.ready and not h.retiring and h.pid not in self.draining]
        if self.held:
            due.append(time.monotonic() + RETRY)
        return min(due) if due else None

    def _start(self, handle: Any, listening: list[Any]) -> None:
        own = [(item.for_worker(handle.index), item) for item in listening if len(item.sockets) > 1]
        if not own:
            return
        self.draining[handle.pid] = [sock for sock, _ in own]
        for sock, item in own:
            sock.setblocking(False)  # the workers' gevent made the shared descriptor non-blocking already
            self.selector.register(sock, selectors.EVENT_READ, lambda _mask, s=sock, i=item: self._accept(s, i))
        self.logger.warning(f"Worker #{handle.index} (pid {handle.pid}) silent for {DRAIN_AFTER:.1f}s: the master "
                            f"passes the connections queued on its sockets to the other workers")

    def _stop(self, pid: int, why: str) -> None:
        for sock in self.draining.pop(pid):
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(sock)
        self.logger.notice(f"Stopped passing the connections of worker pid {pid} ({why}); "
                           f"{self.moved} passed so far")

    def _accept(self, sock: socket.socket, item: Any) -> None:
        for _ in range(ACCEPT_BATCH):
            if self.held:
                return  # the live workers' channels are full: the rest waits in the kernel's queue
            try:
                client, _ = sock.accept()
            except OSError:  # nothing queued (BlockingIOError), or the socket is gone
                return
            self.held.append((client, header(item.frontend.name, item.so_id)))
            self._offer_held()

    def _offer_held(self) -> None:
        """Give each held connection to the next live worker whose channel takes it; keep the rest."""
        while self.held and self.targets:
            client, head = self.held[0]
            if not self._pass(client, head):
                return
            self.held.pop(0)
            client.close()

    def _pass(self, client: socket.socket, head: bytes) -> bool:
        for _ in range(len(self.targets)):
            target = self.targets[self.turn % len(self.targets)]
            self.turn += 1
            try:
                socket.send_fds(target.handoff, [head], [client.fileno()])
            except OSError:
                continue
            self.moved += 1
            return True
        return False
