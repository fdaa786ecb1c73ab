"""Which client connections a server is serving now: what ``Server:shut_sess()`` and
``shutdown sessions server`` cut.

``acquire_server`` notes each client socket against its server with what holds
its transaction: the transaction itself (a TCP stream's, one for the whole
connection) or an HTTP stream, whose ``txn`` is the request it runs now (None
between requests).  A stream is noted once per server it goes to, not once per
request.  The notes are weak on the socket, so a closed connection leaves by
itself.  A connection counts as attached while its transaction on that server
is still running (``t_active`` is set when a transaction ends), so an idle
keep-alive connection whose last request went there is left alone.
"""

from __future__ import annotations

import contextlib
import socket
import weakref
from typing import Any

from ..txn import Transaction

_ATTACHED: dict[Any, weakref.WeakKeyDictionary[Any, Any]] = {}


def attach(server: Any, client: Any, holder: Any) -> None:
    if client is None:
        return
    found = _ATTACHED.get(server)
    if found is None:
        found = _ATTACHED[server] = weakref.WeakKeyDictionary()
    data = found.data
    key = weakref.ref(client)  # the client's shared plain ref: equal to the dict's key, no new ref made
    if key in data:
        data[key] = holder  # a keep-alive connection's next request: the value only, no new keyed ref
    else:
        found[client] = holder


def shut_sessions(server: Any) -> int:
    """Cut the client connections *server* is serving (their streams end as on an abort); how many."""
    cut = 0
    for client, holder in list((_ATTACHED.get(server) or {}).items()):
        txn = holder if type(holder) is Transaction else holder.txn
        if txn is not None and txn.server is server and txn.t_active < 0:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            cut += 1
    return cut
