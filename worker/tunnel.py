"""A tunnel: bytes both ways between two sockets until both sides are done.

An HTTP CONNECT answered 2xx and an Upgrade answered 101 leave HTTP for a
tunnel, as HAProxy does.  Each direction has its own greenlet that reads,
counts and writes; a read that waits longer than the idle timeout ends the
tunnel only when the other direction was quiet too (HAProxy's ``timeout
tunnel`` is about inactivity in both directions).  Every read waits, so a
tunnel can never spin.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import gevent

from .netutil import shutdown_both, shutdown_write

READ_SIZE = 65536

Counter = Callable[[int], None]


class Tunnel:
    """Relay *client* ⇄ *server*; ``run`` returns when both directions ended or one failed."""

    def __init__(self, client: socket.socket, server: socket.socket, timeout: float | None,
                 to_server: Counter, to_client: Counter) -> None:
        self.client = client
        self.server = server
        self.timeout = timeout
        self.count = {"up": to_server, "down": to_client}
        self.active = {"up": time.monotonic(), "down": time.monotonic()}
        self.timed_out = False
        self.failed = False

    def run(self, client_early: bytes, server_early: bytes) -> None:
        """Send what each side sent before the switch, then relay until both halves close."""
        try:
            if client_early:
                self.server.sendall(client_early)
                self.count["up"](len(client_early))
            if server_early:
                self.client.sendall(server_early)
                self.count["down"](len(server_early))
        except OSError:
            self.failed = True
            return
        halves = [gevent.spawn(self._relay, self.client, self.server, "up", "down"),
                  gevent.spawn(self._relay, self.server, self.client, "down", "up")]
        try:
            gevent.joinall(halves, raise_error=False)
        finally:
            gevent.killall(halves)

    def _relay(self, source: socket.socket, sink: socket.socket, way: str, other: str) -> None:
        source.settimeout(self.timeout)
        while not (self.failed or self.timed_out):
            try:
                data = source.recv(READ_SIZE)
            except TimeoutError:
                if self.timeout and time.monotonic() - self.active[other] < self.timeout:
                    continue
                self.timed_out = True
                self._stop()
                return
            except OSError:
                self.failed = True
                self._stop()
                return
            if not data:
                shutdown_write(sink)
                return
            self.active[way] = time.monotonic()
            try:
                sink.sendall(data)
            except OSError:
                self.failed = True
                self._stop()
                return
            self.count[way](len(data))

    def _stop(self) -> None:
        """Wake the other direction: closing both sockets ends its read at once."""
        shutdown_both(self.client)
        shutdown_both(self.server)
