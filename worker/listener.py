"""Accept on one listening socket inherited from the master and run each connection in its own greenlet.

The accept loop is an event-loop read watcher on the listening socket: when it
fires, the hub accepts what is waiting and switches into a plain greenlet per
connection at once, which runs until its first wait.  gevent's StreamServer
does the same through a Pool, a spawn scheduled for the next loop turn and
about fifteen Python calls per connection; this is the one job it had here.
"""

from __future__ import annotations

import contextlib
import select
import socket
import sys
from collections.abc import Callable
from typing import Any

from gevent import get_hub
from gevent import socket as gsocket
from gevent.event import Event
from greenlet import GreenletExit, greenlet

from .client_socket import ClientSocket
from .txn import Address, Addresses

Handler = Callable[[Any, socket.socket, int, "Addresses | None"], bool]
"""(frontend, client, so_id, the client's and local addresses as accepted, or None when not known)."""

MAX_ACCEPT = 100
"""Connections accepted per wake-up of the listening socket, as gevent's servers do."""
IPV6_TRANSPARENT = 75
"""Linux's option number (the socket module does not name it)."""
RETRY_FIRST, RETRY_MAX = 0.05, 1.0
"""Seconds before accepting again after accept() failed (out of descriptors): doubling, bounded."""


class Slots:
    """A listener's connection slots (the worker's ``maxconn``): its running connections, and the
    tokens of its parked keep-alive streams (worker.http.park)."""

    __slots__ = ("_freed", "_held", "running", "size")

    def __init__(self, size: int, freed: Callable[[], None]) -> None:
        self.size = size
        self.running = 0
        self._held: set[Any] = set()
        self._freed = freed

    def __len__(self) -> int:
        return self.running + len(self._held)

    def full(self) -> bool:
        return 0 < self.size <= self.running + len(self._held)

    def hold(self) -> object | None:
        """A token holding one slot, or None when none is free (never waits)."""
        if self.full():
            return None
        token = object()
        self._held.add(token)
        return token

    def release(self, token: object) -> None:
        if token in self._held:
            self._held.remove(token)
            self._freed()


class Listener:
    """Accepts on one socket and runs each connection in its own greenlet."""

    def __init__(self, sock: socket.socket, frontend: Any, so_id: int, handler: Handler,
                 maxconn: int) -> None:
        self.frontend = frontend
        self.so_id = so_id
        self._handler = handler
        if sock.family != socket.AF_UNIX:
            # Accepted sockets inherit TCP_NODELAY from the listening one (Linux): set once, not per connection.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket = gsocket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self._raw = self.socket._sock  # type: ignore[attr-defined]
        self._family, self._type, self._proto = self._raw.family, self._raw.type, self._raw.proto
        self._local = _fixed_local_address(self._raw)
        self._lazy = frontend.mode != "http"
        """Connections get a ClientSocket (watchers made at the first wait): the TCP streams'; HTTP code
        tells plain gevent sockets by their exact type."""
        self._hub = get_hub()
        self._watcher = self._hub.loop.io(self._raw.fileno(), 1)
        self._waiting = select.poll()
        """Asked whether another connection waits before accepting again: an accept() that finds none raises
        BlockingIOError, about 7k instructions against 1.5k for this poll (callgrind)."""
        self._waiting.register(self._raw.fileno(), select.POLLIN)
        self.pool = Slots(maxconn, self._slot_freed)
        self.closed = False
        self._wanted = False
        """Started and not paused: the watcher runs whenever a slot is free."""
        self._retry: Any = None
        self._retry_delay = RETRY_FIRST
        self._room: Event | None = None
        """Made only when an adopted connection waits for a slot."""

    def start(self) -> None:
        self.start_accepting()

    def start_accepting(self) -> None:
        if not self.closed:
            self._wanted = True
            self._watch()

    def stop_accepting(self) -> None:
        self._wanted = False
        self._watcher.stop()

    def pause(self, paused: bool) -> None:
        """``disable frontend`` / ``enable frontend``: connections wait in the kernel's backlog meanwhile."""
        if paused:
            self.stop_accepting()
        else:
            self.start_accepting()

    def close(self) -> None:
        self.stop_accepting()
        self.closed = True
        if self._retry is not None:
            self._retry.close()
        self._watcher.close()
        self.socket.close()

    def adopt(self, client: socket.socket) -> None:
        """Serve a connection accepted elsewhere (the master, on a silent worker's socket), once a slot is
        free; the connection starts from the hub, as an accepted one does."""
        while self.pool.full():
            if self._room is None:
                self._room = Event()
            self._room.wait()
        self._hub.loop.run_callback(self._start, client)

    def _watch(self) -> None:
        if self._wanted and self._retry is None and not self.pool.full():
            self._watcher.start(self._accept_ready)

    def _accept_ready(self) -> None:
        """In the hub: accept what waits, each connection running in its greenlet until it first waits."""
        raw, pool, hub = self._raw, self.pool, self._hub
        for count in range(MAX_ACCEPT):
            if pool.full():
                self._watcher.stop()
                return
            if count and not self._waiting.poll(0):
                return
            try:
                fd, peer = raw._accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError:  # out of descriptors or memory: pause instead of spinning on a ready socket
                self._back_off()
                return
            self._retry_delay = RETRY_FIRST
            local = self._local
            client = (ClientSocket(self._family, self._type, self._proto, fd, hub) if self._lazy
                      else gsocket.socket(self._family, self._type, self._proto, fileno=fd))
            self._start(client, None if local is None else ((peer[0], peer[1]), local))
            if not self._wanted:  # the connection stopped the listener (a soft stop, disable frontend)
                return

    def _back_off(self) -> None:
        self._watcher.stop()
        self._retry = self._hub.loop.timer(self._retry_delay)
        self._retry.start(self._retry_over)
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX)

    def _retry_over(self) -> None:
        self._retry.close()
        self._retry = None
        self._watch()

    def _start(self, client: socket.socket, addresses: Addresses | None = None) -> None:
        """Run one connection in a new greenlet whose parent is the hub (called in the hub)."""
        self.pool.running += 1
        greenlet(self._serve, self._hub).switch(client, addresses)

    def _serve(self, client: socket.socket, addresses: Addresses | None) -> None:
        lives_on = False
        try:
            lives_on = self._handler(self.frontend, client, self.so_id, addresses)
        except GreenletExit:
            pass
        except BaseException:  # reported as gevent reports a failed greenlet; the worker goes on
            self._hub.handle_error(self, *sys.exc_info())
        finally:
            # An idle HTTP stream parked (worker.http.park) closes its socket itself.
            if not lives_on and not getattr(client, "_closed", False):
                client.close()
            self.pool.running -= 1
            if self._room is not None or not self._watcher.active:
                self._slot_freed()

    def _slot_freed(self) -> None:
        if self._room is not None:
            room, self._room = self._room, None
            room.set()
        if not self._watcher.active:
            self._watch()


def _fixed_local_address(sock: socket.socket) -> Address | None:
    """The local address of every connection this socket accepts, when that is its own bound address:
    the client's comes with accept(), so a connection's addresses cost no getpeername/getsockname.
    None for a wildcard or transparent bind (each connection has its own) and for UNIX sockets."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        if sock.getsockopt(socket.SOL_IP, socket.IP_TRANSPARENT) or (
                sock.family == socket.AF_INET6 and sock.getsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT)):
            return None
        host, port = sock.getsockname()[:2]
    except OSError:
        return None
    return None if host in ("0.0.0.0", "::") else (host, port)
