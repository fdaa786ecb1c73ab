"""Protocol errors, each carrying the status HAProxy would answer with.

As in h11, the core raises :class:`LocalProtocolError` everywhere; the
connection re-raises it as :class:`RemoteProtocolError` in ``next_event``, the
one place where the peer is at fault.  A defect in a request keeps its hint
(400, or 422 for an unsupported transfer-coding); any defect in a response
becomes 502, as HAProxy answers when a server sends something invalid.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """The bytes on the wire, or an event to send, break HTTP/1.1."""

    def __init__(self, msg: str, status_hint: int = 400) -> None:
        super().__init__(msg)
        self.status_hint = status_hint


class LocalProtocolError(ProtocolError):
    """We were asked to send something invalid, or a reader found a defect."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something invalid: answer ``status_hint`` and close."""
