"""AppletTCP: what a Lua service registered with core.register_service(name, "tcp", fn) sees.

The service reads the client's bytes from the request channel (filled by the
stream's reader) and writes to the response channel, which sends at once; the
stream closes the connection when the function returns.
"""

from __future__ import annotations

from typing import Any

from . import checks, contexts
from .txn import get_priv, set_priv


class TcpAppletState:
    __slots__ = ("priv", "txn")

    def __init__(self, txn: Any) -> None:
        self.txn = txn
        self.priv: Any = None

    def release(self) -> None:
        """The service ended: let go of the transaction Lua would keep until its collector frees the applet."""
        self.txn = self.priv = None


def getline(applet: TcpAppletState) -> bytes:
    """One line with its '\\n'; at the end of the stream what is left ("" once nothing is)."""
    channel = applet.txn.req
    with contexts.blocking("AppletTCP.getline"):
        channel.wait_input(need_line=True)
    return channel.take_line()


def receive(applet: TcpAppletState, size: Any = None) -> bytes:
    """*size* bytes (fewer at the end of the stream), or everything until the client closes."""
    channel = applet.txn.req
    count = checks.integer(size, "receive", 2) if size is not None else None
    with contexts.blocking("AppletTCP.receive"):
        if count is None:
            channel.wait_for(lambda: False)
        else:
            channel.wait_for(lambda: len(channel.input) >= count)
    return channel.take(count)


def send(applet: TcpAppletState, data: Any) -> None:
    try:
        applet.txn.res.send(checks.as_bytes(data, "send", 2))
    except OSError:
        return


FUNCTIONS = {
    "getline": getline,
    "receive": receive,
    "send": send,
    "get_priv": get_priv,
    "set_priv": set_priv,
}
