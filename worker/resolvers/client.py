"""A worker's resolver for ``do-resolve``: blocks only the calling greenlet, keeps valid answers for
``hold valid`` in a bounded cache."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import time
from collections import OrderedDict
from typing import Any

from gevent import select as gselect
from gevent import socket as gsocket

from .resolution import BadName, Resolution
from .settings import Nameserver, ResolversSection

CACHE_MAX = 10_000
"""Names kept at most: clients choose the names do-resolve asks for, so the cache must not grow unbounded."""
COUNTED: dict[str, ResolversSection] = {}
"""This process's do-resolve counters by section (the stats snapshot reports them, as tls.counters does)."""


def snapshot() -> dict[str, dict[str, Any]]:
    """do-resolve's counters: section -> nameserver -> counter -> value."""
    return {name: {ns: dict(stats) for ns, stats in section.stats.items()} for name, section in COUNTED.items()}


class Resolver:
    def __init__(self, section: ResolversSection) -> None:
        self.section = dataclasses.replace(section, stats={})  # counters of its own: the master's are apart
        COUNTED[section.name] = self.section
        self.cache: OrderedDict[tuple[str, str], tuple[float, tuple[str, ...]]] = OrderedDict()

    def resolve(self, name: str, family: str) -> tuple[str, ...]:
        """The addresses of *name*, of *family* ('ipv4' or 'ipv6') if it has some, else of the other; () when
        it has none or no reply came."""
        name = name.strip().rstrip(".").lower()
        literal = _literal(name)
        if literal is not None or not name:
            return literal or ()
        key, now = (name, family), time.monotonic()
        cached = self.cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            resolution = Resolution(self.section, name, (family, "ipv6" if family == "ipv4" else "ipv4"))
        except BadName:
            return ()
        answer = self._run(resolution)
        if answer:
            self.cache[key] = (time.monotonic() + self.section.hold["valid"], answer)
            self.cache.move_to_end(key)
            while len(self.cache) > CACHE_MAX:
                self.cache.popitem(last=False)
        return answer

    def _run(self, resolution: Resolution) -> tuple[str, ...]:
        sockets: dict[int, gsocket.socket] = {}
        try:
            outgoing = resolution.start(time.monotonic())
            while not resolution.done:
                for ns, wire in outgoing:
                    self._send(sockets, ns, wire)
                wait = max(resolution.deadline - time.monotonic(), 0.0)
                readable, _, _ = gselect.select(list(sockets.values()), [], [], wait)
                outgoing = []
                for sock in readable:
                    outgoing += self._receive(sock, resolution)
                outgoing += resolution.expire(time.monotonic())
        finally:
            for sock in sockets.values():
                sock.close()
        answer = resolution.answer
        return answer.addresses if answer is not None else ()

    def _send(self, sockets: dict[int, gsocket.socket], ns: Nameserver, wire: bytes) -> None:
        family = socket.AF_INET6 if ":" in ns.host else socket.AF_INET
        if family not in sockets:
            sockets[family] = gsocket.socket(family, socket.SOCK_DGRAM)
        try:
            sockets[family].sendto(wire, (ns.host, ns.port))
        except OSError:
            self.section.count(ns, "snd_error")

    def _receive(self, sock: gsocket.socket, resolution: Resolution) -> list[tuple[Nameserver, bytes]]:
        try:
            data, peer = sock.recvfrom(65535)
        except OSError:
            return []
        ns = next((n for n in self.section.nameservers if (n.host, n.port) == peer[:2]), None)
        return resolution.receive(ns, data, time.monotonic()) if ns is not None else []


def _literal(name: str) -> tuple[str, ...] | None:
    """An address written as such needs no query."""
    try:
        return (str(ipaddress.ip_address(name)),)
    except ValueError:
        return None
