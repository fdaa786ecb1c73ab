"""Email alerts (``email-alert ...`` with a ``mailers`` section): server state changes mailed over SMTP.

A backend with ``email-alert mailers|from|to`` mails the server events HAProxy
mails, at or above ``email-alert level`` (default ``alert``): a server going
DOWN (alert), coming UP or entering drain (notice), and with ``option
log-health-checks`` each check line (info).  Each mailer of the section gets
each alert, one SMTP exchange after the other in a greenlet of its own, as
HAProxy's per-mailer queue sends them: HELO, MAIL FROM, RCPT TO, DATA with
From, To, Date and a ``[HAProxy Alert]`` subject, QUIT; every step must be
answered with its code within ``timeout mail`` (default 10 s).  Alerts that
find the queue full are dropped, so a dead mailer holds no memory.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import gevent
from gevent import socket as gsocket

QUEUE_LIMIT = 64
"""Alerts waiting per mailer; more are dropped."""
REPLY_LIMIT = 4096
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Mailer:
    name: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class MailersSection:
    """A ``mailers NAME`` section: its mailers and ``timeout mail``."""

    name: str
    mailers: tuple[Mailer, ...]
    timeout: float = DEFAULT_TIMEOUT


def smtp_steps(hostname: str, sender: str, recipient: str, text: str,
               now: float | None = None) -> list[tuple[bytes, bytes]]:
    """(what to send, the reply code it must get) for one alert, HAProxy's exchange; the first step sends
    nothing and waits for the greeting."""
    date = time.strftime("%a, %d %b %Y %H:%M:%S %z (%Z)", time.localtime(now))
    message = (f"From: {sender}\r\nTo: {recipient}\r\nDate: {date}\r\nSubject: [HAProxy Alert] {text}\r\n"
               f"\r\n{text}\r\n\r\n.\r\n")
    return [(b"", b"220 "), (f"HELO {hostname}\r\n".encode(), b"250 "),
            (f"MAIL FROM:<{sender}>\r\n".encode(), b"250 "), (f"RCPT TO:<{recipient}>\r\n".encode(), b"250 "),
            (b"DATA\r\n", b"354 "), (message.encode("latin-1", "replace"), b"250 "), (b"QUIT\r\n", b"221 ")]


def send_mail(mailer: Mailer, steps: list[tuple[bytes, bytes]], timeout: float) -> bool:
    """One SMTP exchange; False at the first step not answered with its code in time."""
    deadline = time.monotonic() + timeout
    try:
        with gsocket.create_connection((mailer.host, mailer.port), timeout=timeout) as sock:
            pending = b""
            for data, code in steps:
                if data:
                    sock.sendall(data)
                reply, pending = _reply(sock, pending, deadline)
                if not reply.startswith(code):
                    return False
    except OSError:
        return False
    return True


def _reply(sock: gsocket.socket, pending: bytes, deadline: float) -> tuple[bytes, bytes]:
    """The next complete reply (its last line has a space after the code), and what came after it."""
    while True:
        lines = pending.split(b"\r\n")
        for index, line in enumerate(lines[:-1]):
            if line[3:4] != b"-":
                return line, b"\r\n".join(lines[index + 1:])
        if len(pending) > REPLY_LIMIT:
            return b"", b""
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(REPLY_LIMIT)
        if not chunk:
            return b"", b""
        pending += chunk


@dataclass(slots=True, eq=False)
class MailerQueue:
    """Alerts for one mailer, sent in order by one greenlet started with the first alert."""

    mailer: Mailer
    timeout: float
    alerts: deque[list[tuple[bytes, bytes]]] = field(default_factory=deque)
    sender: gevent.Greenlet | None = None

    def put(self, steps: list[tuple[bytes, bytes]]) -> bool:
        """Queue one alert; False when the queue is full (the alert is dropped)."""
        if len(self.alerts) >= QUEUE_LIMIT:
            return False
        self.alerts.append(steps)
        if self.sender is None or self.sender.dead:
            self.sender = gevent.spawn(self._send_all)
        return True

    def _send_all(self) -> None:
        while self.alerts:
            send_mail(self.mailer, self.alerts.popleft(), self.timeout)


@dataclass(slots=True, eq=False)
class EmailAlert:
    """A backend's ``email-alert`` settings and its mailers' queues."""

    section: MailersSection
    sender: str
    recipient: str
    level: int = 1
    hostname: str = ""
    queues: list[MailerQueue] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.queues = [MailerQueue(m, self.section.timeout) for m in self.section.mailers]

    def send(self, level: int, text: str) -> None:
        """Mail *text* if *level* is at or above the configured one (syslog numbers: lower is graver)."""
        if level > self.level:
            return
        steps = smtp_steps(self.hostname or gsocket.gethostname(), self.sender, self.recipient, text)
        for queue in self.queues:
            queue.put(steps)
