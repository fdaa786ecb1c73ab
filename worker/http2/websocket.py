"""WebSocket's handshake keys, for the HTTP/1 side of a WebSocket carried over HTTP/2 (RFC 8441)."""

from __future__ import annotations

import base64
import hashlib
import os

WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_key() -> str:
    """A fresh Sec-WebSocket-Key for the HTTP/1 server (an h2 client sends none: RFC 8441 5)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def websocket_accept(key: str) -> str:
    """What the server must answer in Sec-WebSocket-Accept (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + WEBSOCKET_GUID).digest()).decode("ascii")
