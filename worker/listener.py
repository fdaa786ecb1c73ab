"""One gevent StreamServer per listening socket inherited from the master."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from gevent import socket as gsocket
from gevent.pool import Pool
from gevent.server import StreamServer

Handler = Callable[[Any, socket.socket, int], bool]


class _Server(StreamServer):
    """gevent closes each socket when its handler returns; here the handler decides (Listener._accept)."""

    def do_close(self, *args: Any) -> None:
        pass


class Listener:
    """Accepts on one socket and runs each connection in its own greenlet."""

    def __init__(self, sock: socket.socket, frontend: Any, so_id: int, handler: Handler,
                 maxconn: int) -> None:
        self.frontend = frontend
        self.so_id = so_id
        self._handler = handler
        self._tcp = sock.family != socket.AF_UNIX
        """Accepted sockets get TCP_NODELAY (their family is the listener's: asked once, not per connection)."""
        gevent_sock = gsocket.socket(sock.family, sock.type, fileno=sock.detach())
        self.server = _Server(gevent_sock, self._accept, spawn=Pool(maxconn))

    def _accept(self, client: socket.socket, address: Any) -> None:
        lives_on = False
        try:
            if self._tcp:
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            lives_on = self._handler(self.frontend, client, self.so_id)
        finally:
            if not lives_on:  # an idle HTTP stream parked (worker.http.park) closes its socket itself
                client.close()

    def adopt(self, client: socket.socket) -> None:
        """Serve a connection accepted elsewhere (the master, on a silent worker's socket)."""
        self.server.pool.spawn(self._accept, client, None)

    def start(self) -> None:
        self.server.start()

    def stop_accepting(self) -> None:
        self.server.stop_accepting()

    def pause(self, paused: bool) -> None:
        """``disable frontend`` / ``enable frontend``: connections wait in the kernel's backlog meanwhile."""
        if paused:
            self.server.stop_accepting()
        elif not self.server.closed:
            self.server.start_accepting()

    def close(self) -> None:
        self.server.close()
