"""The master re-resolves servers that name a ``resolvers`` section, as haproxy 2.6 does at run time.

Every ``timeout resolve`` each such server's name is asked again (worker.resolvers
runs one Resolution per server, without I/O); the datagrams go through one
non-blocking UDP socket per section and address family, waited on by the
arbiter's selector.  A new address, or the loss of every address past the
``hold`` period of the failure, becomes a ServerChange(op="dns") that the
master applies to its own proxies and spreads to every worker, like ``set
server addr``; ``show servers state`` and ``show stat`` then show it.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from luaproxy.worker.backend.state import ServerChange
from luaproxy.worker.resolvers import Answer, BadName, Nameserver, Resolution, ResolversSection

RECEIVE_BATCH = 64
"""Datagrams read per wake-up: a flood on a resolver socket cannot hold the master's loop."""


@dataclass(slots=True, eq=False)
class Watched:
    backend: Any
    server: Any
    section: ResolversSection
    due: float
    last_valid: float
    resolution: Resolution | None = None
    name: str = ""
    """The name in flight: ``set server fqdn`` changing it starts a new resolution at once."""
    key: tuple[str, int] | None = None
    """(section, query id) of its query in flight."""


class ServerResolvers:
    def __init__(self, selector: selectors.BaseSelector, spread: Callable[[ServerChange], Any]) -> None:
        self.selector = selector
        self.spread = spread
        self.sections: dict[str, ResolversSection] = {}
        self.watched: list[Watched] = []
        self.sockets: dict[tuple[str, int], socket.socket] = {}
        self.in_flight: dict[tuple[str, int], Watched] = {}  # (section, query id) -> its server

    def configure(self, sections: dict[str, ResolversSection], proxies: list[Any], now: float) -> None:
        """A (re)loaded configuration: its sections and servers; counters of a kept section name carry over."""
        self.close()
        for name, section in sections.items():
            old = self.sections.get(name)
            if old is not None:
                for ns_name, stats in old.stats.items():
                    if ns_name in section.stats:
                        section.stats[ns_name].add(stats)
        self.sections = dict(sections)
        self.watched = [Watched(proxy, server, sections[server.resolvers], now, now)
                        for proxy in proxies if proxy.has_backend
                        for server in proxy.servers if server.resolvers in sections and server.fqdn]

    def close(self) -> None:
        for sock in self.sockets.values():
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(sock)
            sock.close()
        self.sockets.clear()
        self.in_flight.clear()
        for watched in self.watched:
            watched.resolution, watched.key = None, None

    def next_deadline(self) -> float | None:
        deadlines = [w.resolution.deadline if w.resolution is not None else w.due for w in self.watched]
        return min(deadlines, default=None)

    def tick(self, now: float) -> None:
        """Start the resolutions that are due; resend or end those whose reply is late."""
        for gone in [w for w in self.watched if w.server not in w.backend.servers]:  # 'del server'
            self._forget(gone)
            self.watched.remove(gone)
        for watched in self.watched:
            resolution = watched.resolution
            if watched.name != watched.server.fqdn:
                self._forget(watched)
                watched.resolution = resolution = None
                watched.due = now
            if resolution is None:
                if watched.due <= now:
                    self._start(watched, now)
                continue
            self._send(watched, resolution.expire(now))
            if resolution.answer is not None:
                self._finish(watched, resolution.answer, now)

    def _start(self, watched: Watched, now: float) -> None:
        server = watched.server
        families = ("ipv4", "ipv6") if server.resolve_prefer == "ipv4" else ("ipv6", "ipv4")
        watched.name = server.fqdn
        try:
            resolution = Resolution(watched.section, server.fqdn, families)
        except BadName:
            self._finish(watched, Answer("other"), now)
            return
        watched.resolution = resolution
        self._send(watched, resolution.start(now))

    def _send(self, watched: Watched, outgoing: list[tuple[Nameserver, bytes]]) -> None:
        resolution = watched.resolution
        if resolution is None or resolution.query is None:
            return
        key = (watched.section.name, resolution.query.id)
        if watched.key != key:
            self._forget(watched)
            watched.key = key
            self.in_flight[key] = watched
        for ns, wire in outgoing:
            try:
                self._socket(watched.section, ns).sendto(wire, (ns.host, ns.port))
            except OSError:
                watched.section.count(ns, "snd_error")

    def _socket(self, section: ResolversSection, ns: Nameserver) -> socket.socket:
        family = socket.AF_INET6 if ":" in ns.host else socket.AF_INET
        sock = self.sockets.get((section.name, family))
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self.sockets[(section.name, family)] = sock
            self.selector.register(sock, selectors.EVENT_READ, lambda mask: self._readable(section, sock))
        return sock

    def _readable(self, section: ResolversSection, sock: socket.socket) -> None:
        for _ in range(RECEIVE_BATCH):
            try:
                data, peer = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error from an earlier send; the retry timer handles it
            ns = next((n for n in section.nameservers if (n.host, n.port) == peer[:2]), None)
            if ns is None or len(data) < 2:
                continue
            watched = self.in_flight.get((section.name, int.from_bytes(data[:2], "big")))  # the header's ID
            if watched is None or watched.resolution is None:
                section.count(ns, "outdated")
                continue
            now = time.monotonic()
            self._send(watched, watched.resolution.receive(ns, data, now))
            if watched.resolution.answer is not None:
                self._finish(watched, watched.resolution.answer, now)

    def _forget(self, watched: Watched) -> None:
        if watched.key is not None:
            self.in_flight.pop(watched.key, None)
            watched.key = None

    def _finish(self, watched: Watched, answer: Answer, now: float) -> None:
        watched.resolution = None
        self._forget(watched)
        watched.due = now + watched.section.timeout_resolve
        server, section, backend = watched.server, watched.section, watched.backend
        if answer.status == "valid":
            watched.last_valid = now
            taken = set() if "allow-dup-ip" in server.resolve_opts else \
                {s.host for s in backend.servers if s is not server and s.fqdn == server.fqdn}
            usable = [address for address in answer.addresses if address not in taken]
            if server.host in usable and not server.dns_maint:
                return
            if not usable:  # every address is another server's: haproxy leaves this one without
                if not server.dns_maint:
                    self.spread(ServerChange(backend.name, server.name, "dns", "", origin=section.name,
                                             words=("noip",)))
                return
            ns = next((n for n in section.nameservers if n.name == answer.nameserver), None)
            if ns is not None:
                section.count(ns, "update")
            self.spread(ServerChange(backend.name, server.name, "dns", usable[0],
                                     origin=f"{section.name}/{answer.nameserver}"))
            return
        hold = section.hold.get(answer.status, section.hold["other"])
        if not server.dns_maint and now - watched.last_valid >= hold:
            self.spread(ServerChange(backend.name, server.name, "dns", "", origin=section.name,
                                     words=(answer.status,)))
