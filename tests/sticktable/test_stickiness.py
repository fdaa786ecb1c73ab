"""stick store-response + stick match: a session id the server hands out sends its owner's requests back
to that server, whichever worker gets them."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

from tests.helpers import Process, TcpServer, free_port, port_listening, wait_until

CONFIG = """
    global
        nbproc 2
    defaults
        mode http
        timeout client 5s
        timeout server 5s
        timeout connect 5s
    frontend fe
        bind 127.0.0.1:{port}
        default_backend app
    backend app
        balance roundrobin
        stick-table type string len 16 size 1k expire 1m
        stick match req.hdr(x-sess)
        stick store-response res.hdr(x-sess)
        server a 127.0.0.1:{a} id 1
        server b 127.0.0.1:{b} id 2
"""


class SessionServer(TcpServer):
    """Answers every request with its name and a session id of its own in ``X-Sess``."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__()

    def handle(self, conn: socket.socket, received: bytearray) -> None:
        conn.settimeout(5)
        with conn:
            try:
                while b"\r\n\r\n" not in received:
                    data = conn.recv(65536)
                    if not data:
                        return
                    received += data
                conn.sendall(f"HTTP/1.1 200 OK\r\nX-Sess: sess-{self.name}\r\nContent-Length: 1\r\n"
                             f"Connection: close\r\n\r\n{self.name}".encode())
            except OSError:
                return


def _get(port: int, session: str | None) -> tuple[str, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        extra = f"X-Sess: {session}\r\n" if session else ""
        sock.sendall(f"GET / HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    sess = next(line.split(b": ", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"x-sess"))
    return body.decode(), sess.decode()


def test_store_response_then_match(tmp_path: Path) -> None:
    servers = [SessionServer("a"), SessionServer("b")]
    port = free_port()
    (tmp_path / "s.cfg").write_text(textwrap.dedent(CONFIG.format(port=port, a=servers[0].port, b=servers[1].port)))
    proc = Process(["-f", "s.cfg"], tmp_path)
    try:
        proc.wait_workers(2)
        assert wait_until(lambda: port_listening(port)), proc.stderr()
        first = {_get(port, None) for _ in range(4)}
        assert first == {("a", "sess-a"), ("b", "sess-b")}, "round robin without a session"
        for name in ("a", "b"):
            assert {_get(port, f"sess-{name}")[0] for _ in range(6)} == {name}
    finally:
        proc.stop()
        for server in servers:
            server.close()
