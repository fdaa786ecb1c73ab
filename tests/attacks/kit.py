"""What every attack test needs: a probe client that measures what an innocent client sees.

A ``Probe`` runs in a thread beside the attack and sends one small request per
``interval`` on a new connection, recording success and latency; ``report``
gives the success rate and the 99th percentile.  Attack tests assert on it,
so "the proxy held" means "a client that did nothing wrong was still served".
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

from tests.helpers import TcpServer, read_all, recv_until

PROBE_REQUEST = b"GET /probe HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"


@dataclass
class Report:
    sent: int
    ok: int
    latencies: list[float] = field(default_factory=list)

    @property
    def success(self) -> float:
        return self.ok / self.sent if self.sent else 0.0

    @property
    def p99(self) -> float:
        if not self.latencies:
            return float("inf")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    def __str__(self) -> str:
        return f"{self.ok}/{self.sent} ok ({self.success:.0%}), p99 {self.p99 * 1000:.0f} ms"


def probe_once(port: int, timeout: float = 5.0, request: bytes = PROBE_REQUEST) -> float | None:
    """Seconds one request took, or None when it failed (no 2xx within *timeout*)."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(request)
            reply = read_all(sock, timeout)
    except OSError:
        return None
    if not reply.startswith(b"HTTP/1.1 2") and not reply.startswith(b"HTTP/1.0 2"):
        return None
    return time.monotonic() - started


class Probe:
    """Requests at a steady pace in a thread, from ``start`` until ``stop``."""

    def __init__(self, port: int, interval: float = 0.05, timeout: float = 5.0,
                 request: bytes = PROBE_REQUEST) -> None:
        self.port = port
        self.interval = interval
        self.timeout = timeout
        self.request = request
        self.sent = 0
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Probe:
        self._stop.clear()
        thread = threading.Thread(target=self._run, daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 2)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self.sent += 1
            took = probe_once(self.port, self.timeout, self.request)
            if took is not None:
                self.latencies.append(took)
            self._stop.wait(max(self.interval - (time.monotonic() - began), 0.0))

    def report(self) -> Report:
        return Report(self.sent, len(self.latencies), list(self.latencies))


def rss_kib(pid: int) -> int:
    """A process's resident memory, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


class RecordingBackend(TcpServer):
    """An HTTP/1.1 server that logs every byte and frames requests on its own (TE first, then CL).

    Each request it frames is answered ``200`` with the request line as body, so a
    test sees how many requests the backend found in the bytes the proxy sent
    (``connections`` holds every byte of each connection): more than the proxy
    forwarded means a desync (a smuggled request).
    """

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.errors = 0  # bytes it could not frame (a desync would show here)
        self.unframed: list[bytes] = []
        super().__init__()

    def handle(self, conn: socket.socket, raw: bytearray) -> None:
        conn.settimeout(5)
        buffer = bytearray()
        try:
            while True:
                request = self._frame(conn, buffer, raw)
                if request is None:
                    return
                line = request.split(b"\r\n", 1)[0]
                self.requests.append(line)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(line), line))
        except ValueError:
            self.errors += 1
            self.unframed.append(bytes(raw))
        except OSError:
            pass  # the proxy gave up on this connection (a refused body): not a framing problem
        finally:
            conn.close()

    @staticmethod
    def _more(conn: socket.socket, buffer: bytearray, raw: bytearray) -> bool:
        data = conn.recv(65536)
        raw += data
        buffer += data
        return bool(data)

    def _frame(self, conn: socket.socket, buffer: bytearray, raw: bytearray) -> bytes | None:
        while b"\r\n\r\n" not in buffer:
            if not self._more(conn, buffer, raw):
                return None
        end = buffer.index(b"\r\n\r\n") + 4
        head = bytes(buffer[:end])
        del buffer[:end]
        fields = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip().lower()
        if b"chunked" in fields.get(b"transfer-encoding", b""):
            while True:
                while b"\r\n" not in buffer:
                    if not self._more(conn, buffer, raw):
                        return None
                size_line = bytes(buffer[:buffer.index(b"\r\n")])
                size = int(size_line.split(b";")[0], 16)
                need = buffer.index(b"\r\n") + 2 + size + 2
                if size == 0:
                    while b"\r\n\r\n" not in buffer[buffer.index(b"\r\n"):] and not buffer.startswith(b"0\r\n\r\n"):
                        if not self._more(conn, buffer, raw):
                            return None
                    cut = buffer.index(b"\r\n\r\n", buffer.index(b"\r\n") - 2) + 4 if not buffer.startswith(
                        b"0\r\n\r\n") else 5
                    del buffer[:cut]
                    return head
                while len(buffer) < need:
                    if not self._more(conn, buffer, raw):
                        return None
                del buffer[:need]
        length = int(fields.get(b"content-length", b"0").lstrip(b"0") or 0)
        while len(buffer) < length:
            if not self._more(conn, buffer, raw):
                return None
        del buffer[:length]
        return head

    def close(self) -> None:
        self.sock.close()


class ConnectEcho(TcpServer):
    """Answers CONNECT with 200 once the head is in, then echoes what the tunnel carries."""

    def handle(self, conn: socket.socket, received: bytearray) -> None:
        conn.settimeout(10)
        with conn:
            try:
                if recv_until(conn, b"\r\n\r\n") is None:
                    return
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                while chunk := conn.recv(65536):
                    conn.sendall(chunk)
            except OSError:
                return
