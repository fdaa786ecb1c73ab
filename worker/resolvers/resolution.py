"""One name's resolution through a ``resolvers`` section, with no I/O: bytes to send out, datagrams and
clock ticks in, an Answer at the end.  dnspython writes the queries and reads the replies.

As in haproxy 2.6, a query goes to every nameserver of the section and the first reply settles it; a
query without reply is sent again every ``timeout retry``, ``resolve_retries`` times in all, then the
resolution ends in a timeout.  The families are asked in order (a server's ``resolve-prefer`` first):
the next one only when the previous had no address.

dnspython is imported by the methods that use it: it costs a process about
6 MB, which a configuration that resolves no name never needs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .settings import Nameserver, ResolversSection

if TYPE_CHECKING:
    import dns.message
    import dns.name

RDTYPES = {"ipv4": 1, "ipv6": 28}
"""The query types of the families: A, AAAA (dnspython takes the numbers as they are on the wire)."""
CNAME = 5
Outgoing = list[tuple[Nameserver, bytes]]


def load() -> None:
    """Import dnspython now: called where a do-resolve rule is compiled (in the master, so that the workers
    share it; a ``resolvers`` section alone, as the implicit ``default`` one, never needs it there)."""
    for name in ("dns.exception", "dns.flags", "dns.message", "dns.name", "dns.rcode"):
        importlib.import_module(name)


class BadName(ValueError):
    """A name DNS cannot carry (a label over 63 bytes...)."""


def dns_name(name: str) -> dns.name.Name:
    """*name* as dnspython's Name; BadName when DNS cannot carry it."""
    import dns.exception
    import dns.name

    try:
        return dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        raise BadName(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Answer:
    """How a resolution ended: 'valid' with addresses, else 'nx', 'refused', 'other' or 'timeout'."""

    status: str
    addresses: tuple[str, ...] = ()
    nameserver: str = ""


class Resolution:
    def __init__(self, section: ResolversSection, name: str, families: tuple[str, ...] = ("ipv6", "ipv4")) -> None:
        self.section = section
        self.name = dns_name(name)
        self.families = families
        self.family = 0
        self.tries = 0
        self.deadline = 0.0
        self.query: dns.message.Message | None = None
        self.wire = b""
        self.errors: list[str] = []
        self.answer: Answer | None = None

    @property
    def done(self) -> bool:
        return self.answer is not None

    def start(self, now: float) -> Outgoing:
        """The first query, to every nameserver."""
        return self._ask(now)

    def _ask(self, now: float) -> Outgoing:
        import dns.message

        payload = self.section.payload_size
        self.query = dns.message.make_query(self.name, RDTYPES[self.families[self.family]],
                                            use_edns=0 if payload > 512 else False, payload=payload)
        self.wire = self.query.to_wire()
        self.tries = 0
        return self._send(now)

    def _send(self, now: float) -> Outgoing:
        self.tries += 1
        self.deadline = now + self.section.timeout_retry
        for ns in self.section.nameservers:
            self.section.count(ns, "sent")
        return [(ns, self.wire) for ns in self.section.nameservers]

    def expire(self, now: float) -> Outgoing:
        """Past the retry timeout: the same query again, or the end in a timeout."""
        if self.done or now < self.deadline:
            return []
        if self.tries < self.section.retries:
            return self._send(now)
        for ns in self.section.nameservers:
            self.section.count(ns, "timeout")
            self.section.count(ns, "any_err")
        self.answer = Answer("timeout")
        return []

    def receive(self, ns: Nameserver, data: bytes, now: float) -> Outgoing:
        """A datagram from *ns*: it may settle the resolution or move on to the next family."""
        import dns.exception
        import dns.message

        count = self.section.count
        if self.done or self.query is None:
            count(ns, "outdated")
            return []
        try:
            reply = dns.message.from_wire(data, ignore_trailing=True)
        except dns.message.Truncated:
            count(ns, "truncated")
            count(ns, "any_err")
            return []
        except dns.exception.DNSException:
            count(ns, "invalid")
            count(ns, "any_err")
            return []
        if not self.query.is_response(reply):
            count(ns, "outdated")
            return []
        status, addresses = self._read(ns, reply)
        if addresses:
            count(ns, "valid")
            self.answer = Answer("valid", addresses, ns.name)
            return []
        if status != "empty":
            count(ns, status)
            count(ns, "any_err")
        self.errors.append(status)
        if self.family + 1 < len(self.families):
            self.family += 1
            return self._ask(now)
        final = next((s for s in ("nx", "refused", "other") if s in self.errors), "nx")
        self.answer = Answer(final, (), ns.name)
        return []

    def _read(self, ns: Nameserver, reply: dns.message.Message) -> tuple[str, tuple[str, ...]]:
        import dns.flags
        import dns.rcode

        rcode = reply.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return "nx", ()
        if rcode == dns.rcode.REFUSED:
            return "refused", ()
        if rcode != dns.rcode.NOERROR:
            return "other", ()
        if reply.flags & dns.flags.TC:
            return "truncated", ()
        rdtype = RDTYPES[self.families[self.family]]
        if any(rrset.rdtype == CNAME for rrset in reply.answer):
            self.section.count(ns, "cname")
        addresses = tuple(rdata.address for rrset in reply.answer if rrset.rdtype == rdtype for rdata in rrset)
        return ("valid" if addresses else "empty"), addresses
