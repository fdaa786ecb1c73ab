"""The events a :class:`~.connection.Connection` emits and accepts.

Each event is a frozen, slotted record validated when built.  The request and
response events carry the mutable message model from :mod:`.message`, so rules
edit the head in place and the edited head is what ``send`` serialises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .errors import LocalProtocolError
from .message import Headers, RequestHead, ResponseHead


class Signal(Enum):
    """What ``next_event`` returns when it has no event to give."""

    NEED_DATA = "NEED_DATA"
    PAUSED = "PAUSED"

    def __repr__(self) -> str:
        return self.value


NEED_DATA = Signal.NEED_DATA
PAUSED = Signal.PAUSED


@dataclass(frozen=True, slots=True)
class Request:
    """A request head; its body follows as Data events and one EndOfMessage."""

    head: RequestHead


@dataclass(frozen=True, slots=True)
class InformationalResponse:
    """An interim 1xx response; the final response follows it."""

    head: ResponseHead

    def __post_init__(self) -> None:
        if not 100 <= self.head.status < 200:
            raise LocalProtocolError(f"informational response with status {self.head.status}")


@dataclass(frozen=True, slots=True)
class Response:
    """A final response head; its body follows as Data events and one EndOfMessage."""

    head: ResponseHead

    def __post_init__(self) -> None:
        if not 200 <= self.head.status < 600:
            raise LocalProtocolError(f"final response with status {self.head.status}")


@dataclass(frozen=True, slots=True)
class Data:
    """Some body bytes, exactly as they arrived (chunk framing removed)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class EndOfMessage:
    """The body is complete; ``trailers`` holds a chunked body's trailer fields."""

    trailers: Headers = field(default_factory=Headers)


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed its sending side (or we close ours) at a message boundary."""


Event = Request | InformationalResponse | Response | Data | EndOfMessage | ConnectionClosed
