"""``http-response wait-for-body``: read a server's body ahead of relaying its head.

The events read ahead are kept in order and handed to the relay loop first
(``next_event``), so nothing is buffered beyond what the wait asked for: the
end of the body, *at_least* bytes, or a full buffer.
"""

from __future__ import annotations

import time
from typing import Any

from .errors import RemoteProtocolError
from .events import NEED_DATA, Data

READ_SIZE = 65536


def next_event(conn: Any, ahead: list[Any]) -> Any:
    """The next server event: those read ahead first (an error read ahead is raised now)."""
    if ahead:
        event = ahead.pop(0)
        if isinstance(event, RemoteProtocolError):
            raise event
        return event
    return conn.http.next_event()


def wait_response(conn: Any, backend: Any, ahead: list[Any], timeout: float, limit: int) -> bool:
    """Read body events into *ahead* until the body ended or *limit* bytes came; False after *timeout*."""
    deadline = time.monotonic() + timeout
    size = sum(len(event.data) for event in ahead if isinstance(event, Data))
    counters = backend.counters_of(conn.server)
    while size < limit:
        if ahead and not isinstance(ahead[-1], Data):
            return True
        try:
            event = conn.http.next_event()
        except RemoteProtocolError as exc:
            ahead.append(exc)
            return True
        if event is not NEED_DATA:
            ahead.append(event)
            size += len(event.data) if isinstance(event, Data) else 0
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        conn.sock.settimeout(remaining)
        try:
            data = conn.sock.recv(READ_SIZE)
        except TimeoutError:
            return False
        except OSError:
            data = b""
        counters.bytes_out += len(data)
        backend.be_counters.bytes_out += len(data)
        conn.http.receive_data(data)
    return True
