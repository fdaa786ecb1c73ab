"""The events a :class:`~.connection.Connection` emits and accepts.

Each event is a slotted record validated when built.  The request and response
events carry the mutable message model from :mod:`.message`, so rules edit the
head in place and the edited head is what ``send`` serialises.  They are plain
classes rather than frozen dataclasses: a proxied exchange builds about eight of
them, and a frozen dataclass costs three times as much to build.  Nothing
assigns to an event after it is built.
"""

from __future__ import annotations

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


class _Record:
    """Equality and repr over the slots, as a dataclass would give."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Request(_Record):
    """A request head; its body follows as Data events and one EndOfMessage."""

    __slots__ = ("head",)

    def __init__(self, head: RequestHead) -> None:
        self.head = head


class InformationalResponse(_Record):
    """An interim 1xx response; the final response follows it."""

    __slots__ = ("head",)

    def __init__(self, head: ResponseHead) -> None:
        if not 100 <= head.status < 200:
            raise LocalProtocolError(f"informational response with status {head.status}")
        self.head = head


class Response(_Record):
    """A final response head; its body follows as Data events and one EndOfMessage."""

    __slots__ = ("head",)

    def __init__(self, head: ResponseHead) -> None:
        if not 200 <= head.status < 600:
            raise LocalProtocolError(f"final response with status {head.status}")
        self.head = head


class Data(_Record):
    """Some body bytes, exactly as they arrived (chunk framing removed)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


NO_TRAILERS = Headers(())  # type: ignore[arg-type]
"""The trailers of every EndOfMessage without any: shared, and held in a tuple so that no one can add to it."""


class EndOfMessage(_Record):
    """The body is complete; ``trailers`` holds a chunked body's trailer fields."""

    __slots__ = ("trailers",)

    def __init__(self, trailers: Headers = NO_TRAILERS) -> None:
        self.trailers = trailers


END_OF_MESSAGE = EndOfMessage()
"""What readers return for a body without trailers: it holds nothing that could change, so one serves all."""


class ConnectionClosed(_Record):
    """The peer closed its sending side (or we close ours) at a message boundary."""

    __slots__ = ()


Event = Request | InformationalResponse | Response | Data | EndOfMessage | ConnectionClosed
