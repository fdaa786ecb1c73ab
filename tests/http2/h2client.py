"""A raw HTTP/2 client over a real socket (the h2 library), for what curl will not send: malformed
requests, many streams, frames in a chosen order."""

from __future__ import annotations

import socket
from typing import Any

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, ResponseReceived, StreamEnded, StreamReset


class RawH2:
    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.conn = H2Connection(H2Configuration(client_side=True, header_encoding=None,
                                                 validate_outbound_headers=False, normalize_outbound_headers=False))
        self.conn.initiate_connection()
        self.flush()
        self.events: list[Any] = []
        self.closed = False

    def flush(self) -> None:
        self.sock.sendall(self.conn.data_to_send())

    def request(self, headers: list[tuple[str, str]], body: bytes | None = None, end: bool = True) -> int:
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, headers, end_stream=body is None and end)
        if body is not None:
            self.conn.send_data(sid, body, end_stream=end)
        self.flush()
        return sid

    def get(self, path: str = "/", extra: tuple[tuple[str, str], ...] = ()) -> int:
        return self.request([(":method", "GET"), (":scheme", "http"), (":path", path),
                             (":authority", "test.local"), *extra])

    def wait(self, stream_id: int) -> tuple[str, Any]:
        """("response", (headers, body)) or ("reset", error code) of one stream; reads until it ends."""
        headers: list[tuple[bytes, bytes]] | None = None
        body = bytearray()
        seen = 0
        while True:
            for event in self.events[seen:]:
                if getattr(event, "stream_id", None) != stream_id:
                    continue
                if isinstance(event, StreamReset):
                    return "reset", event.error_code
                if isinstance(event, ResponseReceived):
                    headers = event.headers
                if isinstance(event, DataReceived):
                    body += event.data
                if isinstance(event, StreamEnded):
                    return "response", (dict(headers or []), bytes(body))
            seen = len(self.events)
            data = self.sock.recv(65536)
            if not data:
                return "closed", None
            for event in self.conn.receive_data(data):
                if isinstance(event, DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                self.events.append(event)
            self.flush()

    def close(self) -> None:
        self.sock.close()
