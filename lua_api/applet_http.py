"""AppletHTTP: what a Lua service registered with core.register_service(name, "http", fn) sees.

The applet reads the request body and writes the response through the
stream's ServiceIO; ``start_response`` queues the status line and headers
(chunked when no content-length was set and the client speaks HTTP/1.1), and
the output goes out when the service waits, ends or fills a buffer.
"""

from __future__ import annotations

from typing import Any

from luaproxy.worker.http.message import Headers, ResponseHead
from luaproxy.worker.http.pages import reason

from . import checks, contexts
from .errors import LuaApiError
from .txn import get_priv, set_priv

FRAMING = frozenset(("content-length", "transfer-encoding"))
"""Header names that frame a response: without either, an HTTP/1.1 answer is sent chunked."""


class AppletState:
    __slots__ = ("io", "priv", "txn")

    def __init__(self, io: Any, txn: Any) -> None:
        self.io = io
        self.txn = txn
        self.priv: Any = None

    def release(self) -> None:
        """The service ended: Lua holds this state until its collector frees the applet, so let go of the
        stream and the transaction now (a stale applet's methods then fail with a Lua error)."""
        self.io = self.txn = self.priv = None


# The response head (status, reason, headers) stays in the applet's Lua table until start_response
# hands it over in one call (prelude.applet_http_head): set_status and add_header reach Python only
# to check an argument Lua cannot take as it is, and return it checked.


def set_status(applet: AppletState, status: Any, text: Any = None) -> tuple[int, str | None]:
    return checks.integer(status, "set_status", 2), (checks.string(text, "set_status", 3) if text is not None
                                                     else None)


def add_header(applet: AppletState, name: Any, value: Any) -> tuple[str, str]:
    return checks.string(name, "add_header", 2), checks.string(value, "add_header", 3)


def start_response(applet: AppletState, status: int = 200, text: str | None = None, *fields: str) -> None:
    """The head Lua kept: *fields* are the headers as name, value, name, value..."""
    io = applet.io
    if io.head_sent:
        raise LuaApiError("start_response: the response was already started")
    names = fields[::2]
    headers = Headers(list(zip(names, fields[1::2], strict=True)))
    if io.request.version == "HTTP/1.1" and FRAMING.isdisjoint(map(str.lower, names)):
        headers.add("transfer-encoding", "chunked")
    io.send_head(ResponseHead(status, text or reason(status), "HTTP/1.1", headers))


def getline(applet: AppletState) -> bytes:
    with contexts.blocking("AppletHTTP.getline"):
        return applet.io.getline()


def receive(applet: AppletState, size: Any = None) -> bytes:
    count = checks.integer(size, "receive", 2) if size is not None else None
    with contexts.blocking("AppletHTTP.receive"):
        return applet.io.receive(count)


def send(applet: AppletState, data: Any) -> None:
    """Output is buffered until the service waits, ends or fills a buffer, as HAProxy's applets do.
    The Lua side starts the response first if it was not."""
    applet.io.send(checks.as_bytes(data, "send", 2))
    if applet.io.output_full:
        with contexts.blocking("AppletHTTP.send"):
            applet.io.flush()


FUNCTIONS = {
    "set_status": set_status,
    "add_header": add_header,
    "start_response": start_response,
    "getline": getline,
    "receive": receive,
    "send": send,
    "get_priv": get_priv,
    "set_priv": set_priv,
}
