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


LIVE: dict[int, AppletState] = {}
"""The running services' applet states by handle (their id): what an AppletHTTP's slot 0 holds."""


def state_of(handle: int) -> AppletState:
    """The state behind an AppletHTTP's handle, while its service runs."""
    state = LIVE.get(handle)
    if state is None:
        raise LuaApiError("AppletHTTP: its service has ended")
    return state


# The response (status, reason, headers, body) stays in the applet's Lua table and reaches Python in
# one call (prelude.applet_http_head): deliver, or the run's ending (services.LuaHttpService).
# set_status, add_header and send reach Python only to check an argument Lua cannot take as it is,
# and return it checked.


def set_status(applet: None, status: Any, text: Any = None) -> tuple[int, str | None]:
    return checks.integer(status, "set_status", 2), (checks.string(text, "set_status", 3) if text is not None
                                                     else None)


def add_header(applet: None, name: Any, value: Any) -> tuple[str, str]:
    return checks.string(name, "add_header", 2), checks.string(value, "add_header", 3)


def check_body(applet: None, data: Any) -> str:
    return checks.string(data, "send", 2)


def start_response(applet: AppletState, status: int, text: str | None, fields: tuple[str, ...]) -> None:
    """The head Lua kept: *fields* are the headers as name, value, name, value..."""
    io = applet.io
    names = fields[::2]
    headers = Headers(list(zip(names, fields[1::2], strict=True)))
    if io.request.version == "HTTP/1.1" and FRAMING.isdisjoint(map(str.lower, names)):
        headers.add("transfer-encoding", "chunked")
    io.send_head(ResponseHead(status, text or reason(status), "HTTP/1.1", headers))


def hand_over(applet: AppletState, status: int | None, text: str | None, body: str | None, *fields: str) -> None:
    """The output the applet held in Lua: its head (*status* None once it went) and its body so far.
    At a run's end the stream sends it; during the run, deliver sends it once a buffer is full."""
    if status is not None:
        start_response(applet, status, text, fields)
    if body:
        applet.io.send(body.encode("latin-1"))


def deliver(applet: AppletState, status: int | None, text: str | None, body: str | None, *fields: str) -> None:
    """The applet's output, handed over while it runs (before a call into Python, or a buffer's worth)."""
    hand_over(applet, status, text, body, *fields)
    if applet.io.output_full:
        with contexts.blocking("AppletHTTP.send"):
            applet.io.flush()


def getline(applet: AppletState) -> bytes:
    with contexts.blocking("AppletHTTP.getline"):
        return applet.io.getline()


def receive(applet: AppletState, size: Any = None) -> bytes:
    count = checks.integer(size, "receive", 2) if size is not None else None
    with contexts.blocking("AppletHTTP.receive"):
        return applet.io.receive(count)


FUNCTIONS = {
    "set_status": set_status,
    "add_header": add_header,
    "getline": getline,
    "receive": receive,
    "get_priv": get_priv,
    "set_priv": set_priv,
}
