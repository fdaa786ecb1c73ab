"""One transaction: what rules, Lua and sample fetches see of a stream.

In TCP mode a transaction is the whole stream; in HTTP mode each request has
its own.  It carries both channels, the HTTP message (HTTP mode only), the
Lua-private data and the addresses the sample fetches read.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from .channel import Channel
from .conn.inbound import received


class Transaction:
    __slots__ = (
        "_unique_id",
        "accept_date",
        "applet",
        "backend",
        "bytes_in",
        "bytes_logged",
        "bytes_out",
        "captures",
        "client",
        "cookie",
        "default_loglevel",
        "done",
        "dst",
        "dst_port",
        "filters",
        "first_request",
        "frontend",
        "http_mode",
        "http_stream",
        "incomplete",
        "last_rule",
        "logger",
        "loglevel",
        "lua",
        "nice",
        "priority_class",
        "priority_offset",
        "priv",
        "process",
        "proxies",
        "redispatched",
        "reply",
        "req",
        "req_body",
        "request",
        "res",
        "response",
        "retries",
        "rewrites",
        "server",
        "server_conn",
        "server_error",
        "service",
        "so_id",
        "src",
        "src_port",
        "started",
        "status",
        "stick_pending",
        "stkctr",
        "t_active",
        "t_connect",
        "t_queue",
        "t_request",
        "t_response",
        "termination",
        "timeouts",
        "vars",
    )

    def __init__(self, client: socket.socket, frontend: Any, req: Channel, res: Channel, logger: Any,
                 so_id: int = 0, proxies: Any = None, process: tuple[int, int] = (1, 1),
                 variables: Any = None, addresses: Addresses | None = None) -> None:
        self.client = client
        self.frontend = frontend
        self.backend = frontend if frontend.has_backend else None
        self.server = None
        self.server_conn: Any = None
        """The socket to the server once connected (the ssl_bc* fetches read it)."""
        self.server_error: Any = None
        """Why the last TLS handshake with a server failed (worker.tls.errors.HandshakeError; bc_err reads it)."""
        self.req = req
        self.res = res
        self.logger = logger
        self.so_id = so_id
        self.proxies = proxies or {}
        self.process = process
        self.http_mode = False
        self.request: Any = None
        self.req_body: bytes | None = None
        self.last_rule: str | None = None
        self.incomplete = False
        self.first_request = True
        self.response: Any = None
        self.captures: dict[str, list[str | None]] = {}  # 'request'/'response': capture ... header values
        self._unique_id: str | None = None
        self.first_request = True
        self.timeouts: dict[str, float] = {}  # http-request set-timeout server|tunnel
        self.reply: Any = None
        self.http_stream: Any = None  # HTTP: the stream, for wait-for-body and the rewrite room
        self.rewrites: Any = None  # RewriteRoom once a header rewrite needed it (strict-mode, tune.maxrewrite)
        self.service: Any = None
        self.applet: str | None = None  # "<lua.NAME>" / "<PROMEX>": the service that answered, as logs name it
        self.lua = None
        self.priv = None
        self.done = False
        self.nice = 0
        self.priority_class = 0
        self.priority_offset = 0
        self.loglevel: int | None = None
        self.default_loglevel = 6
        self.vars = variables
        self.accept_date = time.time()
        self.started = time.monotonic()
        self.t_request = -1.0
        self.t_connect = -1.0
        self.t_queue = -1.0  # set when the request left the queue without a server (option abortonclose)
        self.t_response = -1.0
        self.t_active = -1.0
        self.status = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.bytes_logged: int | None = None  # a reply made here: logged at haproxy's size, not the wire's
        self.retries = 0
        self.redispatched = False
        self.termination = "--"
        self.stkctr: Any = None
        self.stick_pending: Any = None
        self.filters: Any = None  # worker.filters.chain.TxnFilters once a filter or cache rule acts
        self.cookie: Any = None
        """Cookie persistence of this transaction (worker.backend.cookie.CookieState)."""
        (self.src, self.src_port), (self.dst, self.dst_port) = addresses or addresses_of(client)

    def unique_id(self) -> str:
        """The frontend's unique-id-format, rendered on first use and kept (empty without a format)."""
        if self._unique_id is None:
            fmt = self.frontend.unique_id_format
            self._unique_id = fmt.render(self) if fmt is not None else ""
        return self._unique_id

    def release(self) -> None:
        """Drop what ties this transaction to Lua once it is over.

        The Lua TXN object holds this transaction and this transaction caches
        the TXN object: a cycle across two garbage collectors that neither
        can free on its own.
        """
        self.lua = None
        self.priv = None

    def elapsed(self) -> float:
        """Seconds since this transaction started (for the %T* log timers)."""
        return time.monotonic() - self.started

    def log(self, level: int, message: str) -> None:
        self.logger.log(level, message)

    def req_data(self) -> bytes:
        return bytes(self.req.input)

    def res_data(self) -> bytes:
        return bytes(self.res.input)

    def set_tos(self, tos: int) -> None:
        _setsockopt(self.client, socket.IPPROTO_IP, socket.IP_TOS, tos)

    def set_mark(self, mark: int) -> None:
        _setsockopt(self.client, socket.SOL_SOCKET, getattr(socket, "SO_MARK", 36), mark)


Address = tuple[str | None, int | None]
Addresses = tuple[Address, Address]


def addresses_of(client: socket.socket) -> Addresses:
    """(client address, the address it connected to): read once per connection; those a PROXY
    header advertised when the connection started with one."""
    header = received(client)
    if header is not None and header.src is not None:
        return header.src, header.dst  # type: ignore[return-value]
    return _address(client.getpeername), _address(client.getsockname)


def _address(getter: Any) -> Address:
    try:
        addr = getter()
    except OSError:
        return None, None
    if isinstance(addr, tuple):
        return addr[0], addr[1]
    return None, None


def _setsockopt(sock: socket.socket, level: int, option: int, value: int) -> None:
    """TOS and MARK are best effort, as in HAProxy (MARK needs CAP_NET_ADMIN)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(level, option, value)
