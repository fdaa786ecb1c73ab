"""One transaction: what rules, Lua and sample fetches see of a stream.

In TCP mode a transaction is the whole stream; in HTTP mode each request has
its own.  It carries both channels, the HTTP message (HTTP mode only), the
Lua-private data and the addresses the sample fetches read.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .channel import Channel
from .conn.inbound import received

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Transaction:
    """Most fields keep their class default for the whole transaction: ``request_transaction`` sets only
    what differs per transaction, so a plain forward does not pay for sixty assignments.

    What it sets lives in slots, the rest in the instance dict over the class defaults: past
    thirty names an instance's dict stops sharing its keys with the class and is rebuilt on the next new
    one, which an HTTP transaction reached on every request, and a slot is cheaper to store in than a dict.
    """

    __slots__ = ("__dict__", "_req", "_res", "accept_date", "backend", "bytes_in", "bytes_out", "client", "done",
                 "dst", "dst_port", "frontend", "handle", "logger", "lua", "priv", "process", "proxies", "routed",
                 "service", "so_id", "src", "src_port", "started", "vars")
    # Of the slots, bytes_in, bytes_out, done, handle, lua, priv, routed and service hold defaults
    # request_transaction sets: each request reads them before anything sets them, and a default read through an
    # instance is the interpreter's generic attribute path (about 300 machine instructions, a slot's a few).
    # routed (HTTP): the backend the switching rules gave, whose counters count the final status, as haproxy's do.

    server: Any = None
    server_conn: Any = None
    """The socket to the server once connected (the ssl_bc* fetches read it)."""
    server_error: Any = None
    """Why the last TLS handshake with a server failed (worker.tls.errors.HandshakeError; bc_err reads it)."""
    http_mode = False
    request: Any = None
    req_body: bytes | None = None
    last_rule: str | None = None
    incomplete = False
    first_request = True
    response: Any = None
    captures: Mapping[str, list[str | None]] = _EMPTY
    """'request'/'response': capture ... header values (a dict of its own once a proxy captures)."""
    _unique_id: str | None = None
    timeouts: Mapping[str, float] = _EMPTY
    """http-request set-timeout server|tunnel (a dict of its own once set)."""
    reply: Any = None
    http_stream: Any = None  # HTTP: the stream, for wait-for-body and the rewrite room
    rewrites: Any = None  # RewriteRoom once a header rewrite needed it (strict-mode, tune.maxrewrite)
    applet: str | None = None  # "<lua.NAME>" / "<PROMEX>": the service that answered, as logs name it
    switch_mode: str | None = None
    """tcp-request content switch-mode http: the HTTP mux asked for ("" any, "h1", "h2"); worker.tcp.upgrade."""
    before_wait: Any = None
    """Called before a Lua action of this transaction waits (a TCP stream starts reading its client then)."""
    nice = 0
    priority_class = 0
    priority_offset = 0
    loglevel: int | None = None
    default_loglevel = 6
    t_request = -1.0
    t_connect = -1.0
    t_queue = -1.0  # set when the request left the queue without a server (option abortonclose)
    t_response = -1.0
    t_active = -1.0
    status = 0
    bytes_logged: int | None = None  # a reply made here: logged at haproxy's size, not the wire's
    retries = 0
    redispatched = False
    termination = "--"
    stkctr: Any = None
    stick_pending: Any = None
    filters: Any = None  # worker.filters.chain.TxnFilters once a filter or cache rule acts
    cookie: Any = None
    """Cookie persistence of this transaction (worker.backend.cookie.CookieState)."""

    def __new__(cls, client: socket.socket, frontend: Any, req: Channel | None, res: Channel | None, logger: Any,
                so_id: int = 0, proxies: Any = None, process: tuple[int, int] = (1, 1), variables: Any = None,
                addresses: Addresses | None = None, started: float | None = None) -> Transaction:
        """A transaction with both channels (TCP mode, connection-level rules): request_transaction's fields,
        made there (one function builds them, so an HTTP request's transaction costs one Python call)."""
        txn = request_transaction(client, frontend, logger, so_id, proxies or {}, process, variables,
                                  addresses or addresses_of(client), time.monotonic() if started is None else started,
                                  cls)
        txn._req = req
        txn._res = res
        return txn

    @property
    def req(self) -> Channel:
        """The request channel; an HTTP stream's are made on first use (most requests never touch them)."""
        if self._req is None:
            self._req, self._res = self.http_stream.channels()
        return self._req

    @property
    def res(self) -> Channel:
        if self._res is None:
            self._req, self._res = self.http_stream.channels()
        return self._res

    def set_timeout(self, name: str, seconds: float) -> None:
        """http-request set-timeout: this transaction's own timeouts, apart from the shared empty default."""
        self.timeouts = {**self.timeouts, name: seconds}

    def unique_id(self) -> str:
        """The frontend's unique-id-format, rendered on first use and kept (empty without a format)."""
        if self._unique_id is None:
            fmt = self.frontend.unique_id_format
            self._unique_id = fmt.render(self) if fmt is not None else ""
        return self._unique_id

    def release(self) -> None:
        """Drop everything this transaction refers to once it is over.

        Its Lua TXN object names it by handle (handle_of): the handle goes, so that a TXN a script kept
        names no transaction any more.  The Lua TXN object and its parts, which Lua's garbage collector frees
        thousands of runs later, go with what else this transaction holds: emptied, a transaction a Lua
        value still reaches (an applet's fetches) is a bare object, not channels, messages and variables
        for Python's collector to traverse again and again.  The slots that hold per-transaction objects go
        too; the others hold the connection's and the proxy's, which outlive it anyway.
        """
        self.__dict__.clear()
        self._req = self._res = self.vars = self.lua = self.priv = self.service = None
        if self.handle:
            handles.pop(self.handle, None)  # a sweep took it if its connection ended first
            self.handle = 0

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


handles: dict[int, Transaction] = {}
"""The transactions Lua's TXN objects name, by handle: Lua holds an integer, not the transaction (wrapping a
Python object for Lua costs a userdata and a finaliser per transaction, about 5k machine instructions).
A handle is never given twice, so a TXN a script kept past its transaction names nothing
(lua_api.txn.transaction).  Transaction.release() drops its entry; the entry of a transaction whose connection
ended without its release (an HTTP/2 stream killed with its connection, a connection-level rule's transaction, a
run that failed for want of Lua memory) goes at the next sweep: its client socket is closed then.  (A weak
reference would do it too, but costs about 1.5k machine instructions per action.)"""
_next_handle = itertools.count(1).__next__
SWEEP_SIZE = 1024
"""The registry's size that makes handle_of drop the ended transactions' entries (then twice what stays)."""
_sweep_at = SWEEP_SIZE


def handle_of(txn: Any) -> Any:
    """What a TXN object holds in slot 0 for *txn*: a worker transaction's handle, given on first use;
    any other object (a health check's context) itself."""
    if type(txn) is not Transaction:
        return txn
    handle = txn.handle
    if not handle:
        if len(handles) >= _sweep_at:
            _sweep()
        handle = txn.handle = _next_handle()
        handles[handle] = txn
    return handle


def _sweep() -> None:
    """Drop the entries of the transactions whose connection ended without their release."""
    global _sweep_at
    for handle in [handle for handle, txn in handles.items() if _closed(txn.client)]:
        del handles[handle]
    _sweep_at = max(SWEEP_SIZE, 2 * len(handles))


def _closed(client: Any) -> bool:
    try:
        return client.fileno() < 0
    except OSError:
        return True


Address = tuple[str | None, int | None]
Addresses = tuple[Address, Address]

_new_object = object.__new__


def request_transaction(client: socket.socket, frontend: Any, logger: Any, so_id: int, proxies: Any,
                        process: tuple[int, int], variables: Any, addresses: Addresses, started: float,
                        cls: type[Transaction] = Transaction) -> Transaction:
    """An HTTP request's transaction, one per request: every field that differs per transaction, no argument
    left to default, set on an object made without calling the class (a class call goes through the
    interpreter's C layer, and an HTTP stream always knows these values)."""
    txn: Transaction = _new_object(cls)
    txn.client = client
    txn.frontend = frontend
    txn.backend = frontend if frontend.has_backend else None
    txn._req = txn._res = txn.routed = txn.service = txn.lua = txn.priv = None
    txn.done = False
    txn.handle = 0
    txn.bytes_in = txn.bytes_out = 0
    txn.logger = logger
    txn.so_id = so_id
    txn.proxies = proxies
    txn.process = process
    txn.vars = variables
    txn.accept_date = time.time()
    txn.started = started
    (txn.src, txn.src_port), (txn.dst, txn.dst_port) = addresses
    return txn


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
