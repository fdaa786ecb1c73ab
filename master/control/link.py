"""The master's end of one worker's control socketpair: non-blocking, buffered both ways."""

from __future__ import annotations

import socket

from .wire import Decoder, Message, encode

READ_SIZE = 256 * 1024


class Link:
    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.decoder = Decoder()
        self.outbox = bytearray()
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, message: Message, now: bool = True) -> None:
        """Queue a message and write what the socket takes now (or, with *now* false, let the loop
        write it with whatever else comes this turn); the loop writes the rest."""
        if self.closed:
            return
        self.outbox += encode(message)
        if now:
            self.flush()

    def flush(self) -> None:
        while self.outbox and not self.closed:
            try:
                sent = self.sock.send(self.outbox)
            except BlockingIOError:
                return
            except OSError:
                self.close()
                return
            del self.outbox[:sent]

    def receive(self) -> list[Message] | None:
        """Messages the worker sent; None once it closed its end (it died)."""
        try:
            data = self.sock.recv(READ_SIZE)
        except BlockingIOError:
            return []
        except OSError:
            data = b""
        if not data:
            self.close()
            return None
        return self.decoder.feed(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()
