"""What a parsed configuration holds: plain data, no behaviour.

Rules keep their words and source line; the master compiles them once the Lua
body context has registered its actions, fetches and converters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from luaproxy.worker.conn.outbound import SendProxy
from luaproxy.worker.tls.options import TlsOptions

from .lexer import Line

DEFAULT_BUFSIZE = 16384


@dataclass(slots=True)
class LuaLoad:
    path: str
    line: Line


@dataclass(slots=True)
class LogTarget:
    """A ``log`` line: where logs go and up to which level."""

    target: str
    facility: str = "local0"
    max_level: int = 7
    fmt: str = "raw"


@dataclass(frozen=True, slots=True)
class FleetSync:
    """``fleet-sync URL [name FLEET]``: the Redis server a fleet of nodes shares its maps and ACLs through."""

    url: str
    name: str = "luaproxy"


@dataclass(slots=True)
class GlobalSettings:
    lua_loads: list[LuaLoad] = field(default_factory=list)
    lua_paths: list[tuple[str, str]] = field(default_factory=list)
    nbproc: int = 1
    pidfile: str | None = None
    daemon: bool = False
    maxconn: int = 4096
    logs: list[LogTarget] = field(default_factory=list)
    tune: dict[str, str] = field(default_factory=dict)
    default_path: str = "current"
    config_dir: str = "."
    hard_stop_after: float | None = None
    stats_sockets: list[Line] = field(default_factory=list)
    stats_timeout: float = 10.0
    stats_maxconn: int = 10  # management clients served at once (more wait in the backlog)
    watchdog: float = 5.0  # seconds without a heartbeat before the master kills a worker (0: never)
    map_persist: bool = False
    fleet_sync: FleetSync | None = None
    log_tag: str = "haproxy"
    log_send_hostname: str = ""
    ssl: dict[str, str] = field(default_factory=dict)
    """ssl-default-bind-*, ssl-default-server-*, ssl-server-verify, ca-base and crt-base, as written."""
    proc_vars: list[tuple[str, str, str, Line]] = field(default_factory=list)
    """``set-var``/``set-var-fmt`` lines: keyword, variable, expression or format, line."""
    messages: list[tuple[str, str]] = field(default_factory=list)
    chroot: str | None = None
    uid: int | None = None
    gid: int | None = None
    stored: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def without_lua(self) -> GlobalSettings:
        """The same settings with no Lua file to load (to check the rest when a Lua file fails)."""
        copy = dataclasses.replace(self)
        copy.lua_loads = []
        return copy

    @property
    def bufsize(self) -> int:
        return int(self.tune.get("tune.bufsize", DEFAULT_BUFSIZE))

    @property
    def maxrewrite(self) -> int:
        """``tune.maxrewrite`` (1024), at most half a buffer as HAProxy clamps it."""
        return min(int(self.tune.get("tune.maxrewrite", 1024)), self.bufsize // 2)


@dataclass(slots=True)
class Bind:
    """One listening address: host ('' for any), port, or an inherited fd."""

    host: str
    port: int
    line: Line
    fd: int | None = None
    name: str = ""
    tls: TlsOptions = field(default_factory=TlsOptions)
    path: str | None = None
    """A UNIX socket's path (``/path`` or ``unix@path``)."""
    accept_proxy: bool = False
    """``accept-proxy``: connections start with a PROXY protocol header (worker.conn.inbound)."""
    proto: str = ""
    """``proto h2``: connections speak HTTP/2 from their first byte (worker.http2)."""

    @property
    def label(self) -> str:
        if self.fd is not None:
            return f"fd@{self.fd}"
        if self.path is not None:
            return f"abns@{self.path[1:]}" if self.path.startswith("\0") else self.path
        host = f"[{self.host}]" if ":" in self.host else (self.host or "*")
        return f"{host}:{self.port}"

    @property
    def stat_address(self) -> str:
        """The ``addr`` cell of its show stat row (``option socket-stats``), as haproxy writes it."""
        if self.path is not None:
            return "unix"
        if self.fd is not None:
            return "unknown"
        host = f"[{self.host}]" if ":" in self.host else (self.host or "0.0.0.0")
        return f"{host}:{self.port}"


@dataclass(slots=True)
class ServerConf:
    name: str
    host: str
    port: int
    line: Line
    weight: int = 1
    maxconn: int = 0
    disabled: bool = False
    backup: bool = False
    check: bool = False
    options: dict[str, str] = field(default_factory=dict)
    tls: TlsOptions = field(default_factory=TlsOptions)
    defaults_seen: int | None = None
    """How many ``default-server`` lines came before this line (they apply to the servers after them)."""
    send_proxy: SendProxy = field(default_factory=SendProxy)


@dataclass(slots=True)
class RuleConf:
    """One rule line, kept as words until compiled: ``action args... [if|unless cond]``."""

    ruleset: str
    words: tuple[str, ...]
    line: Line

    @property
    def action(self) -> str:
        return self.words[0]

    def split_condition(self) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
        """(action words, 'if'|'unless'|'', condition words)."""
        for i, word in enumerate(self.words):
            if word in ("if", "unless"):
                return self.words[:i], word, self.words[i + 1 :]
        return self.words, "", ()


@dataclass(slots=True)
class ProxyConf:
    """A frontend, backend, listen or defaults section."""

    kind: str
    name: str
    line: Line
    id: int = 0
    mode: str = "tcp"
    binds: list[Bind] = field(default_factory=list)
    servers: list[ServerConf] = field(default_factory=list)
    timeouts: dict[str, float] = field(default_factory=dict)
    default_backend: str | None = None
    use_backends: list[RuleConf] = field(default_factory=list)
    rules: dict[str, list[RuleConf]] = field(default_factory=dict)
    acls: list[Line] = field(default_factory=list)
    options: dict[str, bool] = field(default_factory=dict)
    balance: tuple[str, ...] = ("roundrobin",)
    retries: int = 3
    maxconn: int = 0
    inspect_delay: dict[str, float] = field(default_factory=dict)
    settings: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    """Keywords stored for later use: every line's arguments, in order."""
    stick_table: Line | None = None
    where: dict[str, Line] = field(default_factory=dict)
    """The last line of each keyword (and of each 'option NAME'): errors found once the section is read
    still name the line at fault."""

    def line_of(self, *keywords: str) -> Line:
        """The latest line of these keywords, else the section's header."""
        found = [self.where[k] for k in keywords if k in self.where]
        return max(found, key=lambda line: (line.file, line.number)) if found else self.line

    @property
    def has_frontend(self) -> bool:
        return self.kind in ("frontend", "listen")

    @property
    def has_backend(self) -> bool:
        return self.kind in ("backend", "listen")

    def setting(self, name: str) -> tuple[str, ...] | None:
        """The arguments of the last line of a stored keyword, or None."""
        lines = self.settings.get(name)
        return lines[-1] if lines else None

    def add_rule(self, rule: RuleConf) -> None:
        self.rules.setdefault(rule.ruleset, []).append(rule)


@dataclass(slots=True)
class Config:
    files: list[str]
    global_: GlobalSettings
    proxies: list[ProxyConf] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    http_errors: dict[str, dict[int, str]] = field(default_factory=dict)
    """``http-errors NAME`` sections: status -> errorfile path."""
    peers: dict[str, Any] = field(default_factory=dict)  # name -> config.peers.PeersConf
    caches: dict[str, Any] = field(default_factory=dict)  # name -> worker.filters.cache.CacheSettings
    programs: list[Any] = field(default_factory=list)  # config.programs.ProgramConf, in order
    mailers: dict[str, Any] = field(default_factory=dict)  # name -> worker.backend.mailers.MailersSection
    resolvers: dict[str, Any] = field(default_factory=dict)  # name -> worker.resolvers.ResolversSection

    def frontends(self) -> list[ProxyConf]:
        return [p for p in self.proxies if p.has_frontend]

    def backends(self) -> list[ProxyConf]:
        return [p for p in self.proxies if p.has_backend]

    def backend(self, name: str) -> ProxyConf | None:
        """Frontends and backends may share a name in HAProxy; this finds the backend."""
        return next((p for p in self.proxies if p.has_backend and p.name == name), None)
