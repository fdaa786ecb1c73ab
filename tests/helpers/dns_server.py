"""A small authoritative DNS server on 127.0.0.1 for resolver tests (dnspython builds and reads the messages).

Its records can change while it runs (``set``), so a test can move a name to a new
address and watch a proxy follow; a name it does not know gets NXDOMAIN, and one
marked ``silent`` gets no answer at all (a resolution timeout).
"""

from __future__ import annotations

import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from . import free_port


class Zone:
    """The answers: A and AAAA from ``records`` (name -> addresses), NXDOMAIN for other names, none for the
    ``silent`` ones.  Usable without a socket (bytes in, bytes out)."""

    def __init__(self, records: dict[str, list[str]] | None = None, ttl: int = 1) -> None:
        self.records: dict[str, list[str]] = {k.rstrip(".").lower(): v for k, v in (records or {}).items()}
        self.silent: set[str] = set()
        self.ttl = ttl
        self.queries: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def set(self, name: str, addresses: list[str]) -> None:
        with self.lock:
            self.records[name.rstrip(".").lower()] = list(addresses)

    def remove(self, name: str) -> None:
        with self.lock:
            self.records.pop(name.rstrip(".").lower(), None)

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        with self.lock:
            self.queries.append((name, rdtype))
            if name in self.silent:
                return None
            addresses = self.records.get(name)
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        if addresses is None:
            reply.set_rcode(dns.rcode.NXDOMAIN)
            return reply
        family = socket.AF_INET6 if rdtype == "AAAA" else socket.AF_INET
        wanted = [a for a in addresses if _family(a) == family]
        if wanted:
            reply.answer.append(dns.rrset.from_text_list(question.name, self.ttl, dns.rdataclass.IN,
                                                         question.rdtype, wanted))
        return reply


class DnsServer(Zone):
    """The Zone served over UDP on 127.0.0.1:<port>, by a thread, until close()."""

    def __init__(self, records: dict[str, list[str]] | None = None, ttl: int = 1) -> None:
        super().__init__(records, ttl)
        self.port = free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
            except Exception:  # a test server ignores garbage, as a real one would
                continue
            reply = self.answer(query)
            if reply is not None:
                self.sock.sendto(reply.to_wire(), peer)

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()

    def __enter__(self) -> DnsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET
