"""Proxies and servers as a worker runs them: compiled rules, live counters.

A ``listen`` section is one Proxy with both a frontend and a backend side, as
in HAProxy; its frontend's default backend is itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .counters import Counters
from .rules.verdict import Verdict

Action = Callable[[Any], Verdict]


@dataclass(slots=True)
class Rule:
    """One compiled rule: an action and an optional condition (``if``/``unless``)."""

    action: Action
    condition: Any = None
    response: bool = False
    where: str = ""

    def applies(self, ctx: Any) -> bool:
        return self.condition is None or self.condition.matches(ctx, self.response)


@dataclass(slots=True)
class SwitchingRule:
    """``use_backend NAME [if|unless cond]``, or ``use_backend %[...]`` whose name is made per request
    (``name`` a log-format, looked up in ``backends``)."""

    backend: Proxy | None
    condition: Any = None
    name: Any = None
    backends: Mapping[str, Proxy] = field(default_factory=dict)

    def applies(self, ctx: Any) -> bool:
        return self.condition is None or self.condition.matches(ctx)

    def target(self, ctx: Any) -> Proxy | None:
        """The backend it names for *ctx*; None when a made name is no backend's (HAProxy then stops
        looking at use_backend rules: default_backend applies)."""
        return self.backend if self.name is None else self.backends.get(self.name.render(ctx))


@dataclass(slots=True)
class ServerRule:
    """``use-server NAME [if|unless cond]``: NAME takes the request, when usable, before any balancing."""

    server: Any
    condition: Any = None

    def applies(self, ctx: Any) -> bool:
        return self.condition is None or self.condition.matches(ctx)


@dataclass(slots=True, eq=False)
class Server:
    """A server of a backend: its settings, its health and admin states, its counters.

    ``op_state`` is what health checks say (UP/DOWN; servers without ``check``
    stay UP); ``admin_state`` is what an operator set (READY/MAINT/DRAIN;
    ``disabled`` starts in MAINT, as in HAProxy).  ``check_*`` fields hold the
    check settings and the last result, in the terms of HAProxy's ``show stat``.
    """

    name: str
    host: str
    port: int
    weight: int = 1
    maxconn: int = 0
    backup: bool = False
    disabled: bool = False
    check: bool = False
    id: int = 0
    pool_max_conn: int = -1
    """``pool-max-conn``: idle connections kept for reuse (-1: no limit)."""
    proto: str = ""
    """``proto h2``: HTTP/2 to this server (worker.http2.backend)."""
    check_proto: str = ""
    """``check-proto h2``: HTTP/2 for its checks (else they follow ``proto``)."""
    ws: str = "auto"
    """``ws h1|h2|auto``: what a WebSocket to this server speaks (worker.http2.choice.websocket_mode)."""
    alpn: tuple[str, ...] = ()
    """The ALPN names its ``ssl`` line offers."""
    maxqueue: int = 0
    """``maxqueue``: reported (the exporter's queue_limit), not enforced: the queue is the backend's."""
    current_conns: int = 0
    op_state: str = "UP"
    admin_state: str = "READY"
    last_change: float = field(default_factory=time.monotonic)
    """When its state last changed (system-wide monotonic clock): its creation until then, as haproxy."""
    downtime: float = 0.0
    check_inter: float = 2.0
    check_fastinter: float | None = None
    check_downinter: float | None = None
    check_rise: int = 2
    check_fall: int = 3
    check_port: int | None = None
    check_addr: str | None = None
    check_spec: Any = None
    check_health: int = 0
    check_status: str = ""
    check_code: int | None = None
    check_info: str = ""
    check_duration: int | None = None
    check_failures: int = 0
    check_downs: int = 0
    iweight: int = -1
    """The configured weight (``get weight``'s "initial"); relative weight changes are taken from it."""
    tls: Any = None
    """``ssl``: the ServerTls that wraps connections to this server (worker.tls.contexts)."""
    check_tls: Any = None
    """``check-ssl`` (or ``ssl`` with checks): the ServerTls of its health checks."""
    dynamic: bool = False
    """Added by ``add server`` on the management socket (master.dynamic_servers)."""
    pinned: bool = False
    """Named elsewhere in the configuration (``track``, ``use-server``, a ``srv_*`` fetch): ``del server``
    refuses it."""
    tracks: Server | None = None
    """``track [<backend>/]<server>``: the server whose state this one follows."""
    trackers: list[tuple[Any, Server]] = field(default_factory=list)
    """(backend, server) of the servers tracking this one, in the order they started to."""
    inherited_maint: bool = False
    """In maintenance because the tracked server is (haproxy's IMAINT): leaves it with that server."""
    sess_rate: list[int] = field(default_factory=lambda: [0, 0, 0])
    """Sessions sent to it per second in this process: (period start ms, this period, last period), read by
    sticktable.table.freq_read (``srv_sess_rate``)."""
    use_ssl: int = 0
    """show servers state's srv_use_ssl: 1 with ``ssl``, -1 with ``no-ssl``, 0 otherwise; ``set server ... ssl
    on|off`` switches it between 1 and 0 when ``ssl_tls`` is ready."""
    ssl_tls: Any = None
    """The ServerTls ``ssl on`` uses: built when the line or its default-server says ``ssl``."""
    send_proxy: Any = None
    """``send-proxy[-v2]``: the SendProxy settings of the PROXY header its connections start with."""
    cookie: str | None = None
    """``cookie VALUE``: the persistence cookie value naming this server (backend.cookie)."""
    agent: Any = None
    """``agent-check``: the AgentSpec of its agent (worker.backend.agent)."""
    agent_enabled: bool = True
    """``enable|disable agent``: whether its agent is asked (a server added at run time starts without)."""
    agent_health: int = 1
    """The agent's own health counter (haproxy's agent: rise 1, fall 1): 0 after "down", 1 after "up"."""
    agent_status: str = ""
    """The agent's last check status (L7OK, L7STS, L4CON...): its check lines are logged when it changes."""
    socks4: tuple[str, int] | None = None
    """``socks4 <addr:port>``: the SOCKS4 proxy its connections go through."""
    check_via_socks4: bool = False
    fqdn: str | None = None
    """The name a server with ``resolvers`` is resolved from (show servers state's srv_fqdn)."""
    resolvers: str | None = None
    """``resolvers NAME``: the section the master re-resolves ``fqdn`` through (worker.backend.resolved)."""
    resolve_prefer: str = "ipv6"
    resolve_opts: tuple[str, ...] = ()
    """``resolve-opts``: 'allow-dup-ip' lets it take an address another server of its backend has."""
    dns_maint: str = ""
    """Why it has no address (haproxy's RMAINT: 'nx', 'timeout', 'none'...); '' while it has one."""
    dns_maint_forced: bool = False
    """It was already in forced maintenance when its name stopped resolving: a valid answer leaves it there."""
    pool_key: Any = field(default=None, init=False, repr=False)
    """Its connection key (worker.backend.connect.connection_key) when no transaction changes it (no SNI or
    PROXY header made per transaction, not following each client's destination), kept once made: dropped
    whenever ``host``, ``port``, ``tls`` or ``send_proxy`` is set (_dropping_field)."""
    traffic: bool | None = field(default=None, init=False, repr=False)
    """``takes_traffic()``'s last answer (None: not asked since a change), which a per-request pick reads as
    ``traffic or takes_traffic()``, without a call while the server takes traffic: dropped whenever ``op_state``,
    ``admin_state`` or ``weight`` is set (_dropping_field)."""

    def __post_init__(self) -> None:
        if self.disabled:
            self.admin_state = "MAINT"
        if self.iweight < 0:
            self.iweight = self.weight

    def takes_traffic(self) -> bool:
        """May take new traffic: UP, READY (not in maintenance or drain) and a non-zero weight; kept in
        ``traffic``."""
        usable = self.traffic = self.op_state == "UP" and self.admin_state == "READY" and self.weight > 0
        return usable

    usable = property(takes_traffic)
    """``takes_traffic()`` read as an attribute."""

    @property
    def full(self) -> bool:
        """At its ``maxconn``: HAProxy queues instead of sending it more."""
        return 0 < self.maxconn <= self.current_conns


def _dropping_field(name: str, kept: str) -> property:
    """Server field *name*, one that what the server keeps in *kept* is made from, whose setting also drops
    it: nothing is kept across a change of what it was made from, whoever sets it.  ``pool_key`` goes with
    ``host``, ``port``, ``tls`` and ``send_proxy`` (``set server addr``, a DNS answer, ``set server ssl``,
    ``add server``), ``traffic`` with ``op_state``, ``admin_state`` and ``weight`` (a check, an agent, a tracked
    server, the management socket, Lua)."""
    slot = Server.__dict__[name]
    drop = Server.__dict__[kept].__set__

    def set_field(server: Server, value: Any) -> None:
        slot.__set__(server, value)
        drop(server, None)

    return property(slot.__get__, set_field)


for _name in ("host", "port", "tls", "send_proxy"):
    setattr(Server, _name, _dropping_field(_name, "pool_key"))
for _name in ("op_state", "admin_state", "weight"):
    setattr(Server, _name, _dropping_field(_name, "traffic"))


@dataclass(slots=True, eq=False)
class Proxy:
    name: str
    id: int
    mode: str
    has_frontend: bool
    has_backend: bool
    timeouts: dict[str, float] = field(default_factory=dict)
    rules: dict[str, list[Rule]] = field(default_factory=dict)
    inspect_delay: dict[str, float] = field(default_factory=dict)
    switching_rules: list[SwitchingRule] = field(default_factory=list)
    default_backend: Proxy | None = None
    servers: list[Server] = field(default_factory=list)
    balancer: Any = None
    retries: int = 3
    redispatch: int | None = None
    """``option redispatch [interval]``'s interval (default -1: the last retry); None without the option."""
    maxconn: int = 0
    fullconn: int = 1
    """``fullconn``, or haproxy's default from the frontends routing here (master.compile), the backend's slim."""
    options: dict[str, bool] = field(default_factory=dict)
    header_captures: dict[str, tuple[tuple[str | None, int], ...]] = field(default_factory=dict)
    """Capture slots, 'request'/'response' -> (header name or None, length): ``capture request|response
    header NAME len N``, ``declare capture`` and ``http-request capture ... len N``."""
    forwarded_headers: tuple[Any, ...] = ()
    """``option forwardfor`` / ``option originalto`` (ForwardedHeader), applied to requests sent to servers."""
    monitor_uri: str | None = None
    """``monitor-uri``: answered 200 before any rule (a path, or a whole URI when it has a scheme)."""
    http_reuse: str = "safe"
    """``http-reuse``: never (a session's own connections only), safe (its first request on its own),
    aggressive/always (any idle connection)."""
    unique_id_format: Any = None
    """The compiled ``unique-id-format`` (a LogFormat) and the ``unique-id-header`` name, if any."""
    unique_id_header: str | None = None
    filters: tuple[Any, ...] | None = None
    """Filters on this proxy's HTTP data (compression); None when there are none (worker.filters)."""
    tcp_filters: tuple[Any, ...] = ()
    """``filter lua.NAME`` in a TCP proxy: each makes a stream's filter instance (worker.tcp.filters)."""
    caches: dict[str, Any] | None = None
    """Every ``cache`` section's store, by name (shared by all proxies, for ``show cache``)."""
    error_log_format: Any = None
    """``error-log-format``: the compiled LogFormat of the line a failed TLS handshake logs, or None."""
    error_pages: Any = None
    access_log: Callable[[Any], None] | None = None
    email_alert: Any = None
    """``email-alert``: the EmailAlert its server events are mailed through (worker.backend.mailers)."""
    current_conns: int = 0
    paused: bool = False
    """``disable frontend``: its listeners stop accepting until ``enable frontend``."""
    stopped: bool = False
    """Lua's ``Proxy:stop()``: its listening sockets are closed for good (until a reload binds them again)."""
    fe_counters: Counters = field(default_factory=Counters)
    be_counters: Counters = field(default_factory=Counters)
    server_counters: dict[int, Counters] = field(default_factory=dict)
    bind_names: list[str] = field(default_factory=list)
    """``bind ... name`` of each listener, by listener id - 1 (so_name)."""
    bind_addresses: list[str] = field(default_factory=list)
    """Each listener's address as show stat's ``addr`` cell gives it (``127.0.0.1:80``, ``unix``)."""
    tls_binds: dict[int, Any] = field(default_factory=dict)
    """ListenerTls by listener id (so_id) for ``bind … ssl`` lines."""
    accept_proxy: frozenset[int] = frozenset()
    """Listener ids (so_id) of ``bind … accept-proxy`` lines."""
    h2_binds: frozenset[int] = frozenset()
    """Listener ids (so_id) of ``bind … proto h2`` lines: HTTP/2 from the first byte (worker.http2)."""
    h1_binds: frozenset[int] = frozenset()
    """Listener ids (so_id) of ``bind … proto h1`` lines: HTTP/1 only, HTTP/2's preface is a bad request."""
    raw_binds: frozenset[int] = frozenset()
    """Listener ids (so_id) of ``bind … proto none`` lines: TCP only, switch-mode http closes the connection."""
    stats: Any = None
    """``stats enable|uri|…``: the StatsConf of the stats page this proxy serves (worker.webstats), or None."""
    cookie: Any = None
    """``cookie NAME …``: the CookieConf of cookie persistence (worker.backend.cookie), or None."""
    table: Any = None
    """This proxy's stick table (a SharedTable), or None."""
    tables: dict[str, Any] = field(default_factory=dict)
    """Every stick table of the configuration by name (shared by all proxies): ``table <name>`` arguments."""
    stick_rules: list[Any] = field(default_factory=list)
    """``stick on|match|store-request|store-response`` rules, in order."""
    server_rules: list[ServerRule] = field(default_factory=list)
    """``use-server <server> [if|unless <cond>]``, in order."""
    server_factory: Any = None
    """Builds the servers ``add server`` brings (master.dynamic_servers.ServerFactory)."""
    plan: Any = None
    """What the HTTP stream reads of this proxy on each request, built on first use (worker.http.plan)."""

    def counters_of(self, server: Server) -> Counters:
        """The counters of one of this backend's servers."""
        counters = self.server_counters.get(server.id)
        if counters is None:
            counters = self.server_counters[server.id] = Counters()
        return counters

    def capture_headers(self, txn: Any, side: str, headers: Any) -> None:
        """Keep the last value of each captured header, cut to its length (None when absent)."""
        slots = self.header_captures.get(side)
        if slots:
            values = [(found[-1][:length] if name and (found := headers.get_all(name)) else None)
                      for name, length in slots]
            txn.captures = {**txn.captures, side: values}

    def choose_backend(self, txn: Any) -> Proxy | None:
        """The frontend's backend for *txn*: use_backend rules, then default_backend, then itself."""
        for rule in self.switching_rules:
            if rule.applies(txn):
                backend = rule.target(txn)
                if backend is not None:
                    return backend
                break
        if self.default_backend is not None:
            return self.default_backend
        return self if self.has_backend else None

    def ruleset(self, name: str) -> list[Rule]:
        return self.rules.get(name, [])

    def timeout(self, name: str, default: float | None = None) -> float | None:
        return self.timeouts.get(name, default)
