"""``add server`` and ``del server``: servers that join or leave a backend at run time, as haproxy 2.6 does it.

A new server line is read by the configuration's own ``server`` keyword (no
``default-server`` applies, as in haproxy), gets its checks and its TLS from
the same builders the configuration used, and joins the farm in maintenance.
Its checks stay off until ``enable health``.  The master applies the change
to its proxies, then every worker applies the same words to its own copy, so
each builds an equal server; ``RuntimeStore`` replays it on reloads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from luaproxy.worker.backend import configure_checks
from luaproxy.worker.backend.state import AdminState, ServerChange, ServerChangeError
from luaproxy.worker.proxy import Proxy, Server
from luaproxy.worker.tls.certs import CertError
from luaproxy.worker.tls.options import TlsError, TlsOptions

from .config.errors import ConfigError
from .config.keywords_proxy import parse_server_line
from .config.lexer import Line
from .config.model import Config, ProxyConf, ServerConf
from .config.units import parse_time

NOT_PURGEABLE = "This server cannot be removed at runtime due to other configuration elements pointing to it."
STILL_USED = "Server still has connections attached to it, cannot remove it."
_SERVER_FETCH = re.compile(r"\bsrv_[a-z_]+\(([^),]+)")


@dataclass(slots=True)
class ServerFactory:
    """What a backend's new servers are built with: its check spec and the configuration's TLS builder."""

    check_spec: Any
    tls: Any = None  # master.tls_build's builder (certificates loaded once, ssl-default-server-*)

    def build(self, proxy: Proxy, name: str, words: tuple[str, ...]) -> tuple[Server, bool]:
        """The server *words* describe (address, then options) and whether it has checks configured."""
        line = Line("", 0, ("server", name, *words))
        holder = ProxyConf("backend", proxy.name, line, mode=proxy.mode)
        parse_server_line(holder, line)
        conf = holder.servers[0]
        if proxy.mode == "tcp" and conf.options.get("proto") == "h2":
            raise ServerChangeError("MUX protocol is not usable for server.")
        server = Server(name, conf.host, conf.port, conf.weight, conf.maxconn, conf.backup, False, True,
                        _server_id(proxy, conf.options.get("id")), dynamic=True)
        try:
            configure_server(server, conf, self.check_spec)
        except ValueError as exc:
            raise ServerChangeError(str(exc)) from None
        server.check = False  # haproxy 2.6: a dynamic server's checks wait for 'enable health'
        if not conf.check:
            server.check_spec = None  # nothing to enable (health.HealthChecker watches the others)
        server.admin_state = AdminState.MAINT
        if self.tls is not None:
            try:
                self.tls.server(server, conf, TlsOptions())
            except (CertError, TlsError, ValueError) as exc:
                raise ServerChangeError(f"{exc}") from None
        return server, conf.check


def configure_server(server: Server, conf: ServerConf, check_spec: Any) -> None:
    """A server line's settings beyond the address (``pool-max-conn``, PROXY header, cookie, the checks), for
    configured and added servers alike; ValueError names the bad one."""
    options = conf.options
    pool_max = options.get("pool-max-conn")
    if pool_max is not None:
        if not pool_max.lstrip("-").isdigit():
            raise ValueError("'pool-max-conn' expects a number.")
        server.pool_max_conn = int(pool_max)
    maxqueue = options.get("maxqueue")
    if maxqueue is not None:
        if not maxqueue.isdigit():
            raise ValueError("'maxqueue' expects a positive integer.")
        server.maxqueue = int(maxqueue)
    if conf.send_proxy.version or conf.send_proxy.check:
        server.send_proxy = conf.send_proxy
    server.cookie = options.get("cookie")
    for name in ("proto", "check-proto"):
        if options.get(name, "") not in ("", "h1", "h2"):
            raise ValueError(f"'{name}' : unknown protocol '{options[name]}', expected h1 or h2.")
    server.proto = options.get("proto", "")
    server.check_proto = options.get("check-proto", "")
    server.ws = options.get("ws", "auto")
    configure_checks(server, options, parse_time, check_spec)


def _server_id(proxy: Proxy, text: str | None) -> int:
    """``id N`` when free, else the next id after the backend's highest (haproxy's choice)."""
    taken = {s.id for s in proxy.servers}
    if text is None:
        return max(taken, default=0) + 1
    if not text.isdigit() or int(text) < 1:
        raise ServerChangeError(f"'id' expects a positive integer, got '{text}'.")
    if int(text) in taken:
        raise ServerChangeError(f"this server ID is already used by another server in backend '{proxy.name}'.")
    return int(text)


def add_server(proxies: list[Proxy], change: ServerChange, health: Any = None) -> str:
    """Build and insert the server; *health* (a worker's HealthChecker) watches it when it has checks."""
    backend = _backend(proxies, change.backend)
    if not getattr(backend.balancer, "dynamic", True):
        raise ServerChangeError("Backend must use a dynamic load balancing to support dynamic servers.")
    if not change.words:
        raise ServerChangeError("'server' expects <name> and <addr>[:<port>] as arguments.")
    if backend.server_factory is None:
        raise ServerChangeError("This backend cannot take dynamic servers.")
    try:
        server, checked = backend.server_factory.build(backend, change.server, change.words)
    except ConfigError as exc:
        raise ServerChangeError(exc.message) from None
    tracked = _tracked(proxies, backend, change.words)
    if any(s.name == change.server for s in backend.servers):
        raise ServerChangeError("Already exists a server with the same name in backend.")
    if tracked is not None:
        server.tracks, server.op_state = tracked, tracked.op_state
        tracked.trackers.append((backend, server))
    backend.servers.append(server)
    if checked and health is not None:
        health.watch(backend, server)
    if server.agent is not None:
        server.agent_enabled = False  # haproxy 2.6: waits for 'enable agent', as checks for 'enable health'
        if health is not None:
            health.watch_agent(backend, server)
    return "New server registered."


def _tracked(proxies: list[Proxy], backend: Proxy, words: tuple[str, ...]) -> Server | None:
    """``track [<backend>/]<server>``: a static server with checks (haproxy refuses the rest)."""
    if "track" not in words[:-1]:
        return None
    name = words[words.index("track") + 1]
    be_name, _, srv_name = name.rpartition("/")
    owner = _backend(proxies, be_name) if be_name else backend
    target = next((s for s in owner.servers if s.name == srv_name), None)
    if target is None:
        raise ServerChangeError(f"unable to find required server '{name}' for tracking.")
    if target.dynamic:
        raise ServerChangeError(f"unable to use {owner.name}/{srv_name} for tracking as it is a dynamic server.")
    if not target.check:
        raise ServerChangeError(f"unable to use {owner.name}/{srv_name} for tracking as it does not have any "
                                "check nor agent enabled.")
    return target


def deletable(proxies: list[Proxy], change: ServerChange) -> tuple[Proxy, Server]:
    """The backend and server ``del server`` may remove (ServerChangeError with haproxy's text if not): in
    maintenance, with no connection here, and named by nothing in the configuration nor held by Lua."""
    backend = _backend(proxies, change.backend)
    server = next((s for s in backend.servers if s.name == change.server), None)
    if server is None:
        raise ServerChangeError("No such server.")
    if server.pinned or any(s.tracks is server for p in proxies for s in p.servers):
        raise ServerChangeError(NOT_PURGEABLE)
    if server.admin_state != AdminState.MAINT:
        raise ServerChangeError("Only servers in maintenance mode can be deleted.")
    if server.current_conns:
        raise ServerChangeError(STILL_USED)
    return backend, server


def del_server(proxies: list[Proxy], change: ServerChange) -> str:
    backend, server = deletable(proxies, change)
    backend.servers.remove(server)
    if server.tracks is not None:
        server.tracks.trackers = [t for t in server.tracks.trackers if t[1] is not server]
    backend.server_counters.pop(server.id, None)
    if backend.balancer is not None:
        backend.balancer.forget(server)
    return "Server deleted."


def _backend(proxies: Iterable[Proxy], name: str) -> Proxy:
    found = next((p for p in proxies if p.has_backend and p.name == name), None)
    if found is None:
        raise ServerChangeError("No such backend.")
    return found


def link_references(config: Config, proxies: list[Proxy]) -> list[ConfigError]:
    """Link each ``track`` line to its server, and mark the servers the configuration names (``track``,
    ``use-server``, ``srv_*(...)`` fetches): haproxy will not delete them at run time."""
    by_name = {(p.name, s.name): (p, s) for p in proxies if p.has_backend for s in p.servers}
    errors = []
    for conf in config.proxies:
        names: list[str] = [words[0] for words in conf.settings.get("use-server", ()) if words]
        for server_conf in conf.servers:
            track = server_conf.options.get("track")
            if not track:
                continue
            be_name, _, srv_name = track.rpartition("/")
            found, tracker = by_name.get((be_name or conf.name, srv_name)), by_name.get((conf.name, server_conf.name))
            if found is None or tracker is None:
                errors.append(server_conf.line.error(f"'server {conf.name}/{server_conf.name}' : unable to find "
                                                     f"required server '{track}' for tracking."))
                continue
            tracker[1].tracks = found[1]
            found[1].trackers.append(tracker)
            names += [track, server_conf.name]
        for words in _rule_words(conf):
            names += [m.group(1).strip() for word in words for m in _SERVER_FETCH.finditer(word)]
        for name in names:
            be_name, _, srv_name = name.rpartition("/")
            pair = by_name.get((be_name or conf.name, srv_name))
            if pair is not None:
                pair[1].pinned = True
    return errors


def _rule_words(conf: ProxyConf) -> Iterable[tuple[str, ...]]:
    yield from (line.words for line in conf.acls)
    yield from (rule.words for rules in conf.rules.values() for rule in rules)
    yield from (rule.words for rule in conf.use_backends)
    yield from (words for lines in conf.settings.values() for words in lines)
