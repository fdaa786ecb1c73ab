"""HTTP/1.1 for the proxy: a sans-I/O protocol core and the one message model."""

from .connection import Connection
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    InformationalResponse,
    Request,
    Response,
)
from .message import Headers, RequestHead, ResponseHead
from .readers import DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADERS
from .state import CLIENT, SERVER, Role, State

__all__ = [
    "CLIENT",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEAD_SIZE",
    "NEED_DATA",
    "PAUSED",
    "SERVER",
    "Connection",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "Headers",
    "InformationalResponse",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "Request",
    "RequestHead",
    "Response",
    "ResponseHead",
    "Role",
    "State",
]
