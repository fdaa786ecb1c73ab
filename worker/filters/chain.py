"""The filter chain of one HTTP transaction: what sits between the server's response and the client.

The stream calls in at three points only, and only when a proxy has filters or
a rule attached some (``txn.filters`` is None otherwise, so plain traffic pays
one attribute test): ``start`` once the request rules are done,
``response_head`` once the response rules are done, and ``forward`` for each
body event.  Filters that act on the body (the cache's writer, compression)
are appended to ``body`` in the order they start and see the bytes in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..http.events import Data, EndOfMessage
from ..http.grammar import at_least_http11
from ..http.message import ResponseHead


class FilterAborted(Exception):
    """A body filter failed part way (a Lua error): the response cannot be finished, the connection ends."""


class BodyFilter(Protocol):
    """Transforms a response body chunk by chunk; ``end`` returns what it still held back."""

    def data(self, data: bytes) -> bytes: ...

    def end(self) -> bytes: ...


class ResponseHook(Protocol):
    """What a proxy filter decided from the request; it acts on the response head (and may add a body filter)."""

    def on_response(self, txn: Any, state: TxnFilters, head: ResponseHead) -> None: ...


class ProxyFilter(Protocol):
    """A filter configured on a proxy (``compression``): it looks at the request first."""

    def on_request(self, txn: Any) -> ResponseHook | None: ...


class TxnFilters:
    """One transaction's filters and what the cache made of it (for res.cache_hit/res.cache_name)."""

    __slots__ = ("body", "cache_hit", "cache_name", "hooks", "request_body")

    def __init__(self) -> None:
        self.body: list[BodyFilter] = []
        self.request_body: list[BodyFilter] = []
        """Filters of the request body on its way to the server (Lua filters' request-side http_payload)."""
        self.hooks: list[ResponseHook] = []
        self.cache_hit = False
        self.cache_name = ""

    def response_head(self, txn: Any, head: ResponseHead) -> None:
        for hook in self.hooks:
            hook.on_response(txn, self, head)

    def forward(self, event: Data | EndOfMessage, send: Callable[[Any], bytes]) -> bytes:
        """One response body event through every body filter, then serialised by *send*."""
        return _through(self.body, event, send)

    def forward_request(self, event: Data | EndOfMessage, send: Callable[[Any], bytes]) -> bytes:
        """One request body event through the request's body filters, then serialised by *send*."""
        return _through(self.request_body, event, send)


def _through(body_filters: list[BodyFilter], event: Data | EndOfMessage, send: Callable[[Any], bytes]) -> bytes:
    if not body_filters:
        return send(event)
    if isinstance(event, Data):
        data = event.data
        for body_filter in body_filters:
            data = body_filter.data(data)
        return send(Data(data)) if data else b""
    tail = b""
    for body_filter in body_filters:
        if tail:
            tail = body_filter.data(tail)
        tail += body_filter.end()
    return (send(Data(tail)) if tail else b"") + send(event)


def reframe(head: ResponseHead) -> None:
    """A filter will change the body's length: no Content-Length; chunked in HTTP/1.1, else it ends by closing."""
    headers = head.headers
    headers.remove("content-length")
    if at_least_http11(head.version) and not any(v.lower() == "chunked"
                                                 for v in headers.get_values("transfer-encoding")):
        headers.add("transfer-encoding", "chunked")


def of(txn: Any) -> TxnFilters:
    """The transaction's filter state, made on first use."""
    state = txn.filters
    if state is None:
        state = txn.filters = TxnFilters()
    return state


def start(txn: Any, frontend: Any, backend: Any) -> None:
    """The request is ready to go on: the proxies' filters look at it (frontend's first)."""
    state = of(txn)
    for proxy in (frontend, backend) if backend is not None and backend is not frontend else (frontend,):
        for proxy_filter in proxy.filters or ():
            hook = proxy_filter.on_request(txn)
            if hook is not None:
                state.hooks.append(hook)
