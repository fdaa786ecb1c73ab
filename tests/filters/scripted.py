"""A real HTTP/1.1 server whose answers the test scripts per path, recording every request it got."""

from __future__ import annotations

from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.helpers import ThreadedHttpServer


@dataclass
class Answer:
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    chunked: bool = False
    status: int = 200


class ScriptedBackend(ThreadedHttpServer):
    """``answers[path]`` is what a request for *path* gets (a 200 with ``path`` as body by default);
    ``seen`` lists (method, path, headers) in arrival order."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                backend.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                answer = backend.answers.get(self.path, Answer(body=self.path.encode()))
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                if answer.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    if self.command == "HEAD":
                        return
                    for i in range(0, len(answer.body), 1000):
                        piece = answer.body[i:i + 1000]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            do_GET = do_POST = do_HEAD = _answer

        self.serve(Handler)

    def count(self, path: str) -> int:
        return sum(1 for _, p, _ in self.seen if p == path)
