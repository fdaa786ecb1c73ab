"""An HTTP/2 stream as the socket a Tunnel relays (CONNECT, and WebSocket over RFC 8441's extended CONNECT).

After the switch, the client's DATA frames are the tunnel's bytes up and the
server's bytes go back as DATA frames; END_STREAM is the half-close.  The
Tunnel of worker.tunnel runs unchanged on this object.
"""

from __future__ import annotations

import socket

from h2.errors import ErrorCodes

from ..http.errors import RemoteProtocolError
from ..http.events import NEED_DATA, Data, EndOfMessage
from ..http.stream import ClientGone
from .front import StreamFront


class StreamSocket:
    """recv/sendall/shutdown over one h2 stream's front."""

    def __init__(self, front: StreamFront) -> None:
        self.front = front
        self.timeout: float | None = None
        self.pending = b""

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def recv(self, size: int) -> bytes:
        while not self.pending:
            try:
                event = self.front.next_event()
            except RemoteProtocolError:
                raise OSError("stream reset") from None
            if event is NEED_DATA:
                if not self.front.wait(self.timeout):
                    raise TimeoutError
                continue
            if type(event) is Data:
                self.pending = event.data
            elif type(event) is EndOfMessage:
                return b""
        data, self.pending = self.pending[:size], self.pending[size:]
        return data

    def sendall(self, data: bytes) -> None:
        try:
            self.front.send(Data(data))
        except ClientGone:
            raise OSError("stream gone") from None

    def shutdown(self, how: int) -> None:
        if how == socket.SHUT_WR:
            try:
                self.front.send(EndOfMessage())
            except ClientGone:
                raise OSError("stream gone") from None
        elif not self.front.gone:
            self.front.session.reset(self.front.stream_id, ErrorCodes.CANCEL)
