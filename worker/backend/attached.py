"""Which client connections a server is serving now: what ``Server:shut_sess()`` and
``shutdown sessions server`` cut.

``acquire_server`` notes each (client socket, transaction) against its server;
the notes are weak on the socket, so a closed connection leaves by itself.  A
connection counts as attached while its latest transaction on that server is
still running (``t_active`` is set when a transaction ends), so an idle
keep-alive connection whose last request went there is left alone.
"""

from __future__ import annotations

import contextlib
import socket
import weakref
from typing import Any

_ATTACHED: dict[Any, weakref.WeakKeyDictionary[Any, Any]] = {}


def attach(server: Any, client: Any, txn: Any) -> None:
    if client is None:
        return
    found = _ATTACHED.get(server)
    if found is None:
        found = _ATTACHED[server] = weakref.WeakKeyDictionary()
    data = found.data
    key = weakref.ref(client)  # the client's shared plain ref: equal to the dict's key, no new ref made
    if key in data:
        data[key] = txn  # a keep-alive connection's next request: the value only, no new keyed ref
    else:
        found[client] = txn


def shut_sessions(server: Any) -> int:
    """Cut the client connections *server* is serving (their streams end as on an abort); how many."""
    cut = 0
    for client, txn in list((_ATTACHED.get(server) or {}).items()):
        if txn.server is server and txn.t_active < 0:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            cut += 1
    return cut
