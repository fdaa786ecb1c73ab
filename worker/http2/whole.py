"""The HTTP/1 core's whole-message calls, made of single events for an HTTP/2 stream.

The HTTP stream sends a whole message in one call (``send_message``) and takes a
buffered body with its end (``take_body``) where the HTTP/1 core makes that
cheaper than event by event; an HTTP/2 stream frames each event anyway, so it
gives the same results through ``send`` and lets the stream read the body's
events as they come.
"""

from __future__ import annotations

from typing import Any

from ..http.events import END_OF_MESSAGE, Data, EndOfMessage, Request, Response
from ..http.message import RequestHead, ResponseHead


class WholeMessages:
    """Mixed into the HTTP/2 cores that give HttpStream the HTTP/1 connection's interface (each has its
    own ``send`` of one event)."""

    head_fields: dict[str, Any] = {}
    """An HTTP/2 head has no Connection field (it is malformed there): nothing to drop."""

    def send_message(self, head: RequestHead | ResponseHead, body: bytes = b"",
                     end: EndOfMessage = END_OF_MESSAGE) -> bytes:
        data = self.send(Request(head) if isinstance(head, RequestHead) else Response(head))
        if body:
            data += self.send(Data(body))
        return data + self.send(end)

    def take_body(self, below: int | None = None) -> bytes | None:
        """Nothing taken: the body's events come one by one from ``next_event``."""
        return None
