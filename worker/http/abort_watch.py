"""``option abortonclose``: a client that closes while its request waits gives up that request.

Without the option a client's close (its half of the connection shut) only
ends the stream once the response has been sent, as HTTP allows; with it,
HAProxy aborts a request still waiting in the backend's queue (``CQ``), for a
connection to its server, retries included (``CC``), or for the response head
(``CH``, logged with status 400), so that a gone client holds no queue place,
connection slot or server.

While the stream waits, a greenlet waits for the client socket to become
readable: a close (a zero-byte peek) throws :class:`ClientAborted` into the
stream's greenlet, which the stream turns into the termination above.  Bytes
from the client (a pipelined request) end the watch: its close can no longer
be told apart.  Requests whose body is still arriving are not watched (the
body is read by its own greenlet), nor TLS clients (a close_notify is data).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import gevent
from gevent import socket as gsocket


class ClientAborted(BaseException):
    """Thrown into a stream whose client left while its request waited; a BaseException, like gevent's
    Timeout, so that no ``except Exception`` on the way (a connect, a queue wait) takes it for its own."""

    def __init__(self, started: float) -> None:
        super().__init__("client aborted")
        self.waited = time.monotonic() - started


_UNWATCHED = contextlib.nullcontext()


def watch_client(client: Any, waiting: Callable[[], bool]) -> contextlib.AbstractContextManager[None]:
    """Watch *client* for a close during the block, while *waiting()* holds (the response head has not
    come); a shared no-op (nothing built) for a client that cannot be peeked at."""
    if type(client) is not gsocket.socket:
        return _UNWATCHED
    return _watching(client, waiting)


@contextlib.contextmanager
def _watching(client: gsocket.socket, waiting: Callable[[], bool]) -> Iterator[None]:
    state = {"active": True}
    stream = gevent.getcurrent()
    started = time.monotonic()

    def still_waiting() -> bool:
        return state["active"] and waiting()

    watcher = gevent.spawn(_watch, client, stream, still_waiting, started)
    try:
        yield
    finally:
        state["active"] = False
        watcher.kill(block=False)


def _watch(client: gsocket.socket, stream: Any, waiting: Callable[[], bool], started: float) -> None:
    while True:
        try:
            gsocket.wait_read(client.fileno())
            data = client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if data or not waiting():
            return
        gevent.get_hub().loop.run_callback(_abort, stream, waiting, started)
        return


def _abort(stream: Any, waiting: Callable[[], bool], started: float) -> None:
    """Thrown from the hub, checked again there: the stream may have got its response meanwhile."""
    if waiting() and not stream.dead:
        stream.throw(ClientAborted(started))


def abort_phase(server: Any, connection: Any) -> str:
    """Where the request was when its client left: Q (no server yet), C (connecting), H (awaiting the head)."""
    if server is None:
        return "Q"
    return "C" if connection is None else "H"
