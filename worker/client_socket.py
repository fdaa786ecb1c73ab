"""An accepted connection's gevent socket that makes its event-loop watchers only when it first waits.

A gevent socket makes a read and a write watcher as it is made, and its close hands
them to the hub, which closes them and the descriptor in a later loop callback.  A
TCP-mode connection that a Lua action answers at once never waits: its request is
already there when the action runs and the reply fits in the send buffer.  This
socket skips both for such connections (about 23k of their 180k instructions,
callgrind) and behaves as gevent's once a read or a write had to wait.
"""

from __future__ import annotations

from typing import Any

from gevent import socket as gsocket
from gevent._hub_primitives import wait_on_socket

_READ, _WRITE = 1, 2
"""Placeholders of the watchers not made yet: the event masks they will be made with."""


class ClientSocket(gsocket.socket):
    """gevent's socket with lazily made watchers; made by the listener for TCP-mode frontends."""

    __slots__ = ()

    def __init__(self, family: int, type_: int, proto: int, fd: int, hub: Any) -> None:
        # gevent's __init__ would make the watchers: its fields are set here instead.
        self._sock = sock = self._gevent_sock_class(family, type_, proto, fd)
        sock.setblocking(False)
        self.hub = hub
        self.timeout = None
        self._read_event = _READ
        self._write_event = _WRITE
        self._io_refs = 0
        self._closed = False

    def read_watcher(self) -> Any:
        """The read watcher, made now if it was not (a caller waiting on it directly)."""
        if type(self._read_event) is int:
            self._watch()
        return self._read_event

    def become_plain(self) -> None:
        """Turn into gevent's own socket class, watchers made (the same object: whoever holds it keeps it),
        for code that tells plain gevent sockets by their exact type (an HTTP stream it is handed to)."""
        if type(self._read_event) is int:
            self._watch()
        self.__class__ = gsocket.socket  # type: ignore[assignment]  # the same layout: no slot of its own

    def _watch(self) -> None:
        fd = self._sock.fileno()
        io = self.hub.loop.io
        self._read_event = io(fd, _READ)
        self._write_event = io(fd, _WRITE)

    def _wait(self, watcher: Any, timeout_exc: Any = None) -> None:
        if type(watcher) is int:
            self._watch()
            watcher = self._read_event if watcher == _READ else self._write_event
        wait_on_socket(self, watcher, timeout_exc)

    def shutdown(self, how: int) -> None:
        if type(self._read_event) is int:  # nothing waits on this socket: no wait to cancel
            self._sock.shutdown(how)
        else:
            super().shutdown(how)

    def close(self) -> None:
        if type(self._read_event) is int and not self._io_refs:  # no watcher: the descriptor closes now
            self._closed = True
            self._sock.close()
        else:
            super().close()

    def _drop_events_and_close(self, closefd: bool = True, *args: Any) -> None:
        """gevent's detach() and close() come here: without watchers nothing is handed to the hub."""
        if type(self._read_event) is not int:
            super()._drop_events_and_close(closefd, *args)
        elif closefd:
            self._sock.close()


PLAIN = (gsocket.socket, ClientSocket)
"""The socket types read and written through their non-blocking ``_sock`` directly (not TLS)."""
