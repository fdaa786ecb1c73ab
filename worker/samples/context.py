"""What a sample fetch may read: the stream's view, as a Protocol.

The TCP/HTTP stream implements it; tests use a plain dataclass.  Nothing here
does I/O: fetches only read attributes and call ``req_data()``/``res_data()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..http.message import RequestHead, ResponseHead
from .vars import Vars


class ServerView(Protocol):
    name: str
    id: int
    usable: bool
    current_conns: int
    maxconn: int  # 0 means no limit
    weight: int  # the current (user) weight
    iweight: int  # the configured weight
    op_state: str  # UP or DOWN
    admin_state: str  # READY, MAINT or DRAIN
    backup: bool
    sess_rate: list[int]  # (period start ms, this period, last period): sticktable.table's freq counter


class ProxyView(Protocol):
    name: str
    id: int
    current_conns: int
    servers: Sequence[ServerView]
    balancer: Any  # its queued() counts the requests waiting for a slot; None without servers

    def timeout(self, name: str, default: float | None = None) -> float | None: ...
    bind_names: Sequence[str]  # by listener id - 1 ("" when a bind line has no name)


class SampleContext(Protocol):
    """One stream (connection + current transaction) as fetches see it."""

    src: str | None  # client address, IPv4 or IPv6 text
    src_port: int | None
    dst: str | None  # the address the client connected to
    dst_port: int | None
    so_id: int  # listener id
    frontend: ProxyView
    backend: ProxyView | None  # None until a backend is chosen
    server: ServerView | None
    proxies: Mapping[str, ProxyView]
    vars: Vars
    process: tuple[int, int]  # (nbproc, proc_id)
    accept_date: float  # epoch seconds when the connection was accepted (log %t, %Ts)
    request: RequestHead | None  # None in TCP mode: layer-7 fetches give no sample
    response: ResponseHead | None
    req_body: bytes | None  # the request body waited for (option http-buffer-request), else None
    last_rule: str | None  # "file:line" of the last rule that ended a rule set
    first_request: bool  # the first request of its connection (http_first_req)
    incomplete: bool  # set when a fetch or converter lacked data that may still arrive (HAProxy's MAY_CHANGE)

    def req_data(self) -> bytes:
        """The request channel's buffered input bytes (req.len, req.payload)."""
        ...

    def res_data(self) -> bytes:
        """The response channel's buffered input bytes (res.len, res.payload)."""
        ...
