"""A real syslog listener for the tests, and parsers for the two syslog layouts HAProxy sends.

The listener is a datagram socket (UDP on 127.0.0.1, or a unix socket) read by
a thread; ``wait`` bounds every wait.  The parsers return ``Record``s, or raise
AssertionError naming the datagram that does not fit the layout.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
import time
from dataclasses import dataclass

RFC3164 = re.compile(r"<(\d+)>([A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d) (?:(\S+) )?([^\s\[]+)\[(\d+)\]: (.*)\n", re.S)
RFC5424 = re.compile(r"<(\d+)>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d) (\S+) (\S+) (\d+) - - (.*)\n",
                     re.S)


@dataclass(frozen=True)
class Record:
    facility: int
    level: int
    stamp: str
    hostname: str
    tag: str
    pid: int
    message: str


def _record(pattern: re.Pattern[str], datagram: bytes) -> Record:
    match = pattern.fullmatch(datagram.decode())
    assert match, f"not a syslog datagram in this layout: {datagram!r}"
    pri, stamp, hostname, tag, pid, message = match.groups()
    return Record(int(pri) // 8, int(pri) % 8, stamp, hostname or "", tag, int(pid), message)


def rfc3164(datagram: bytes) -> Record:
    return _record(RFC3164, datagram)


def rfc5424(datagram: bytes) -> Record:
    record = _record(RFC5424, datagram)
    return Record(record.facility, record.level, record.stamp, "" if record.hostname == "-" else record.hostname,
                  record.tag, record.pid, record.message)


class SyslogListener:
    """Datagrams received on 127.0.0.1:<free port> (or a unix socket), in arrival order."""

    def __init__(self, unix: bool = False) -> None:
        self.path = ""
        if unix:
            self.directory = tempfile.mkdtemp(prefix="lp-log-", dir="/tmp")
            self.path = os.path.join(self.directory, "log.sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(self.path)
            self.address = self.path
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.sock.settimeout(0.1)
        self.datagrams: list[bytes] = []
        self._open = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._open:
            try:
                self.datagrams.append(self.sock.recv(65536))
            except TimeoutError:
                continue
            except OSError:
                return

    def wait(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """The first *count* datagrams, waiting at most *timeout* seconds for them."""
        deadline = time.monotonic() + timeout
        while len(self.datagrams) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.datagrams) >= count, f"expected {count} log datagrams, got {self.datagrams!r}"
        return self.datagrams[:count]

    def matching(self, text: str, timeout: float = 5.0) -> list[bytes]:
        """The datagrams containing *text*, waiting until at least one arrives."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [d for d in self.datagrams if text.encode() in d]
            if found:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no log datagram contains {text!r}: {self.datagrams!r}")

    def close(self) -> None:
        self._open = False
        self._thread.join(2)
        self.sock.close()
        if self.path:
            os.unlink(self.path)
            os.rmdir(self.directory)
