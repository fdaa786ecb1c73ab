"""The smuggling corpus through a real luaproxy, to a backend that frames requests on its own.

The backend prefers Transfer-Encoding, then Content-Length, logs every byte
and answers each request it finds with its request line.  No desync means the
backend found exactly the requests luaproxy forwarded: the request lines it
saw are the bodies of the 200s the client got, in order, and a case luaproxy
refuses never reaches the backend as a second request.
"""

from __future__ import annotations

import socket
import time

from tests.helpers import parse_responses, read_all, wait_until
from tests.http.test_http_smuggling import CORPUS

from .kit import RecordingBackend

EXTRA = {
    "trailer_content_length": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
                              b"Content-Length: 40\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
    "trailer_transfer_encoding": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n0\r\n\r\n",
    "http10_no_host_then_next": b"GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
}


def test_no_case_desyncs_the_backend(write, luaproxy, port):
    backend = RecordingBackend()
    try:
        write("smuggle.cfg", f"""
            global
               nbproc 1
            defaults
               mode http
               timeout connect 1s
               timeout client 3s
               timeout server 3s
            frontend fe
               bind 127.0.0.1:{port}
               default_backend be
            backend be
               server s1 127.0.0.1:{backend.port}
            """)
        luaproxy("-f", "smuggle.cfg", wait_port=port)
        cases = {name: raw for name, (raw, _) in CORPUS.items()} | EXTRA
        problems = []
        for name, raw in sorted(cases.items()):
            before = len(backend.requests)
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(raw)
                sock.shutdown(socket.SHUT_WR)
                reply = read_all(sock, 5)
            try:
                answers = [body for status, _, body in parse_responses(reply) if status == 200]
            except (ValueError, IndexError):
                problems.append(f"{name}: unreadable reply {reply[:200]!r}")
                continue
            wanted = before + len(answers)
            wait_until(lambda w=wanted: len(backend.requests) >= w, 2, 0.01)
            time.sleep(0.02)
            seen = backend.requests[before:]
            if seen != answers:
                problems.append(f"{name}: backend framed {seen}, client got {answers}")
        assert not problems, "\n".join(problems)
        assert backend.errors == 0, backend.unframed
    finally:
        backend.close()
