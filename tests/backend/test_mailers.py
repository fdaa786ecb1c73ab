"""Email alerts: a ``mailers`` section, ``email-alert`` settings, and the SMTP exchange with a real server.

The mail server is a gevent StreamServer in this test's hub that answers each
command with its code and keeps the transcript; every wait is bounded.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import gevent
import pytest
from gevent.server import StreamServer

from luaproxy.master.config import loader
from luaproxy.master.config.mailers import email_alert
from luaproxy.worker.backend.mailers import EmailAlert, Mailer, MailersSection
from luaproxy.worker.backend.state import ALERT, AdminState, set_admin, set_down, set_up

from .kit import RecordingLogger, farm, proxy

REPLIES = {b"HELO": b"250 hello\r\n", b"MAIL": b"250 ok\r\n", b"RCPT": b"250 ok\r\n", b"DATA": b"354 go on\r\n",
           b"QUIT": b"221 bye\r\n"}


class SmtpServer:
    """Answers HAProxy's exchange (a multi-line greeting, to test that too); keeps each session's lines."""

    def __init__(self) -> None:
        self.sessions: list[list[bytes]] = []
        self.server = StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()
        self.port = self.server.server_port

    def handle(self, sock: socket.socket, _address: object) -> None:
        lines: list[bytes] = []
        reader = sock.makefile("rb")
        sock.sendall(b"220-mail.test\r\n220 ready\r\n")
        in_data = False
        while True:
            line = reader.readline()
            if not line:
                break
            lines.append(line)
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    sock.sendall(b"250 queued\r\n")
                continue
            sock.sendall(REPLIES.get(line[:4], b"500 what\r\n"))
            in_data = line == b"DATA\r\n"
            if line == b"QUIT\r\n":
                break
        self.sessions.append(lines)

    def wait(self, count: int, timeout: float = 5.0) -> list[list[bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.sessions) < count and time.monotonic() < deadline:
            gevent.sleep(0.02)
        return self.sessions


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.server.stop(timeout=1)


def test_a_server_going_down_is_mailed_as_haproxy_mails_it(smtp):
    section = MailersSection("m", (Mailer("smtp1", "127.0.0.1", smtp.port),), 2.0)
    backend = proxy(farm(1, 1))
    backend.email_alert = EmailAlert(section, "from@test", "to@test", ALERT, "lp.test")
    log = RecordingLogger()
    set_down(backend, backend.servers[0], log)
    set_up(backend, backend.servers[0], log)  # notice: below 'email-alert level alert'
    set_admin(backend, backend.servers[1], AdminState.DRAIN, log)  # notice too
    (session,) = smtp.wait(1)
    gevent.sleep(0.2)
    assert len(smtp.sessions) == 1
    text = b"".join(session).decode()
    assert text.startswith("HELO lp.test\r\nMAIL FROM:<from@test>\r\nRCPT TO:<to@test>\r\nDATA\r\n"
                           "From: from@test\r\nTo: to@test\r\nDate: ")
    event = "Server be/s1 is DOWN. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, " \
            "0 remaining in queue"
    assert f"\r\nSubject: [HAProxy Alert] {event}\r\n\r\n{event}\r\n\r\n.\r\nQUIT\r\n" in text


def test_a_dead_mailer_costs_a_bounded_queue(smtp):
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    section = MailersSection("m", (Mailer("dead", "127.0.0.1", port), Mailer("live", "127.0.0.1", smtp.port)), 1.0)
    alert = EmailAlert(section, "a@test", "b@test", 7, "lp")
    for n in range(100):
        alert.send(1, f"event {n}")
    assert len(alert.queues[0].alerts) <= 64
    assert len(smtp.wait(64, timeout=10)) == 64


def test_config_reads_mailers_sections_and_email_alert(tmp_path):
    path = tmp_path / "m.cfg"
    path.write_text("mailers mx\n timeout mail 3s\n mailer a 127.0.0.1:2525\n"
                    "defaults\n email-alert mailers mx\n email-alert level info\n"
                    "backend full\n email-alert from f@x\n email-alert to t@x\n"
                    "backend partial\n")
    config = loader.parse_proxies(*loader.load([str(path)]))
    warnings: list[str] = []
    built = {p.name: email_alert(p, config.mailers, warnings) for p in config.proxies if p.has_backend}
    assert built["partial"] is None and "'email-alert' will be ignored for backend 'partial'" in warnings[0]
    full = built["full"]
    assert (full.sender, full.recipient, full.level, full.section.timeout) == ("f@x", "t@x", 6, 3.0)
    assert full.section.mailers == (Mailer("a", "127.0.0.1", 2525),)
