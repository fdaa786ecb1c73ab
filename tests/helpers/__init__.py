"""Test helpers: free ports, bounded waits, real processes cleaned up by PID."""

from __future__ import annotations

import fcntl
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

LUAPROXY = [sys.executable, "-m", "luaproxy.master"]


PORT_RANGE = (20000, 32000)
"""Test ports come from below the kernel's ephemeral range (32768+), so no outgoing connection's source
port can take one between the check and the bind."""
PORT_LOCKS = Path(tempfile.gettempdir()) / "luaproxy-test-ports"
_held: dict[int, int] = {}  # port -> the locked file's descriptor, held for this process's life


def free_port() -> int:
    """A port nobody listens on and no other test process holds (an flock per port, released at exit)."""
    for _ in range(2000):
        port = random.randrange(*PORT_RANGE)
        if port not in _held and reserve_port(port, wait=0.0):
            return port
    raise RuntimeError("no free test port")


def free_ports(count: int) -> list[int]:
    """*count* distinct free ports."""
    return [free_port() for _ in range(count)]


def reserve_port(port: int, wait: float = 30.0) -> bool:
    """Hold *port* for this process once no other test process holds it and it can be bound (fixed ports,
    such as the README example's, wait their turn)."""
    if port in _held:
        return True
    PORT_LOCKS.mkdir(exist_ok=True)
    fd = os.open(PORT_LOCKS / str(port), os.O_CREAT | os.O_RDWR, 0o666)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _bindable(port):
                _held[port] = fd
                return True
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            os.close(fd)
            return False
        time.sleep(0.1)


def release_port(port: int) -> None:
    """Give a fixed port back to the other test processes (random ones are held until exit: they are many)."""
    fd = _held.pop(port, None)
    if fd is not None:
        os.close(fd)


def _bindable(port: int) -> bool:
    """As luaproxy and haproxy bind (SO_REUSEADDR: a connection in TIME_WAIT does not matter)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return not port_listening(port)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_listening(port: int) -> bool:
    """A socket listens on *port* (read from /proc, so no connection disturbs the server)."""
    wanted = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[1].endswith(wanted) and fields[3] == "0A":
                return True
    return False


def children(pid: int) -> list[int]:
    """PIDs whose parent is *pid*, read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def talk(port: int, data: bytes = b"", timeout: float = 5.0, shutdown: bool = False,
         host: str = "127.0.0.1") -> bytes:
    """Connect, send, read until the server closes (bounded by *timeout*)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        if data:
            s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        return read_all(s, timeout)


def read_all(sock: socket.socket, timeout: float = 5.0) -> bytes:
    deadline = time.monotonic() + timeout
    chunks = []
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def recv_until(sock: socket.socket, marker: bytes, data: bytes = b"") -> bytes | None:
    """What the peer sent after *data*, read until it holds *marker*; None when the peer closed first.
    The socket's own timeout bounds each read."""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data


def echo_sessions(port: int, count: int, prefix: bytes = b"") -> list[socket.socket]:
    """*count* open connections through a proxy to an echo server, each checked with one round trip."""
    clients = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"hi")
        assert sock.recv(10) == prefix + b"hi"
        clients.append(sock)
    return clients


def connection_cut(sock: socket.socket) -> bool:
    """The connection was closed on us (not merely quiet for two seconds)."""
    sock.settimeout(2)
    try:
        return sock.recv(10) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


class Process:
    """A luaproxy started for real; stop() ends it and every child, by PID."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None,
                 program: list[str] = LUAPROXY, logs: Path | None = None) -> None:
        stamp = time.monotonic_ns()
        self.stdout_path = (logs or cwd) / f"stdout-{stamp}.log"
        self.stderr_path = (logs or cwd) / f"stderr-{stamp}.log"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(program + args, cwd=cwd, stdout=out, stderr=err,
                                         env={**os.environ, **(env or {})})
        self.pid = self.proc.pid
        self.known_pids: set[int] = {self.pid}

    def workers(self) -> list[int]:
        pids = children(self.pid)
        self.known_pids.update(pids)
        return pids

    def wait_workers(self, count: int, timeout: float = 10.0) -> list[int]:
        assert wait_until(lambda: len(self.workers()) >= count, timeout), self.stderr()
        return self.workers()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        self.workers()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in self.known_pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


class TcpServer:
    """A real TCP server on 127.0.0.1, a thread per connection running ``handle``.

    ``connections`` keeps what each connection sent, in accept order; ``closed`` counts the
    connections the peer closed.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.connections: list[bytearray] = []
        self.closed = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            received = bytearray()
            self.connections.append(received)
            threading.Thread(target=self.handle, args=(conn, received), daemon=True).start()

    def handle(self, conn: socket.socket, received: bytearray) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()


class EchoServer(TcpServer):
    """Sends back what it receives, with a prefix."""

    def __init__(self, prefix: bytes = b"") -> None:
        self.prefix = prefix
        super().__init__()

    def handle(self, conn: socket.socket, received: bytearray) -> None:
        conn.settimeout(10)
        with conn:
            try:
                while data := conn.recv(65536):
                    received += data
                    conn.sendall(self.prefix + data)
            except OSError:
                return
            self.closed += 1


class RedisServer:
    """A real redis-server on a free port, no persistence, stopped by PID."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(lambda: port_open(self.port), 10):
            self.stop()
            raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, made with Debian's openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class ThreadedHttpServer:
    """A real HTTP/1.1 server from http.server on a free port, one thread per connection."""

    def serve(self, handler: type) -> None:
        from http.server import ThreadingHTTPServer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HttpBackend(ThreadedHttpServer):
    """A real HTTP/1.1 server (http.server) that answers with what it received, as JSON.

    Paths: ``/status/N`` answers N, ``/slow/S`` waits S seconds, ``/chunked`` answers chunked,
    anything else 200.  The JSON holds method, path, headers (in order) and body.
    """

    def __init__(self, name: str = "backend") -> None:
        import json
        from http.server import BaseHTTPRequestHandler

        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def setup(self) -> None:
                backend.connections += 1
                super().setup()

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))

            def _answer(self) -> None:
                backend.requests += 1
                body = self._body()
                status = 200
                if self.path.startswith("/status/"):
                    status = int(self.path.split("/")[2])
                if self.path.startswith("/slow/"):
                    time.sleep(float(self.path.split("/")[2]))
                payload = json.dumps({"server": backend.name, "method": self.command, "path": self.path,
                                      "headers": list(self.headers.items()),
                                      "body": body.decode("latin-1")}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if self.path == "/chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for piece in (payload[:10], payload[10:]):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                no_body = status in (204, 304) or self.command == "HEAD"
                self.send_header("Content-Length", "0" if status in (204, 304) else str(len(payload)))
                self.end_headers()
                if not no_body:
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _answer

        self.name = name
        self.requests = 0
        self.connections = 0
        self.serve(Handler)


def http_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw request bytes, read until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return read_all(s, timeout)


def parse_responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split raw bytes into (status, lower-cased headers, body) by Content-Length or chunked framing."""
    responses = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    rest = rest.partition(b"\r\n")[2]
                    break
                body, rest = body + rest[:size], rest[size + 2:]
        else:
            length = int(headers.get("content-length", len(rest)))
            body, rest = rest[:length], rest[length:]
        responses.append((status, headers, body))
        data = rest
    return responses
