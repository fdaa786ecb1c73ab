"""The management sockets: accept clients, read their lines, answer in order.

The master's selector drives everything: the server registers its listening
sockets and clients with a callback each.  Replies may wait for the workers
(a ``Pending``), yet each client gets its answers in the order it asked.

A client cannot make the master hold more than a bounded amount for it: as in
HAProxy, while its output is full (``MAX_OUTPUT`` bytes unsent, or
``MAX_INFLIGHT`` answers not yet written) the lines it already sent wait and
its socket is not read, so a client that pipelines commands and never reads
stops being read.  At most ``maxconn`` clients are served at once (``stats
maxconn``, 10 by default as in HAProxy): while that many are connected the
listening sockets are not watched, so newcomers wait in the kernel's backlog
until a session ends, as they do on haproxy.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import socket
import stat
import time
from collections import deque
from dataclasses import dataclass, field

from . import protocol
from .addresses import SocketSpec
from .commands import CommandTable, Session, Supervisor
from .pending import Pending

END_OF_READ = "end of read"  # a non-interactive client is done once the lines of its first read ran
END_OF_INPUT = "end of input"
BACKLOG = 64
READ_SIZE = 65536
MAX_OUTPUT = 256 * 1024
MAX_INFLIGHT = 16
MAX_CLIENTS = 100  # the master CLI's limit


@dataclass(eq=False)
class Client:
    sock: socket.socket
    session: Session
    reader: protocol.LineReader = field(default_factory=protocol.LineReader)
    replies: deque[tuple[Pending, bool]] = field(default_factory=deque)
    lines: deque[list[protocol.Request] | str] = field(default_factory=deque)  # read, not run yet; or a mark
    out: bytearray = field(default_factory=bytearray)
    last_active: float = field(default_factory=time.monotonic)
    close_when_done: bool = False
    closed: bool = False
    events: int = selectors.EVENT_READ


class ManagementServer:
    def __init__(self, selector: selectors.BaseSelector, supervisor: Supervisor, table: CommandTable,
                 timeout: float, routed: CommandTable | None = None) -> None:
        self.selector = selector
        self.supervisor = supervisor
        self.table = table
        self.timeout = timeout
        self.routed = routed  # the master CLI: where ``@<pid> <command>`` goes
        self.listeners: dict[SocketSpec, socket.socket] = {}
        self.clients: set[Client] = set()
        self.maxconn = MAX_CLIENTS
        self.full = False  # at maxconn: the listening sockets are not watched

    # --- listening sockets ----------------------------------------------------------------------

    def listen(self, specs: list[SocketSpec]) -> None:
        """Listen on *specs*: keep the sockets already open for them, close the others."""
        for spec in [s for s in self.listeners if s not in specs]:
            self._close_listener(spec)
        for spec in specs:
            if spec not in self.listeners:
                sock = open_socket(spec)
                self.listeners[spec] = sock
                if not self.full:
                    self._watch(spec, sock)

    def _watch(self, spec: SocketSpec, sock: socket.socket) -> None:
        self.selector.register(sock, selectors.EVENT_READ, functools.partial(self.accept, sock, spec))

    def _set_full(self, full: bool) -> None:
        """Stop or start watching the listening sockets (clients beyond maxconn wait in the backlog)."""
        if full == self.full:
            return
        self.full = full
        for spec, sock in self.listeners.items():
            if full:
                with contextlib.suppress(KeyError, ValueError):
                    self.selector.unregister(sock)
            else:
                self._watch(spec, sock)

    def _close_listener(self, spec: SocketSpec) -> None:
        sock = self.listeners.pop(spec)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)
        sock.close()
        if spec.family == "unix":
            with contextlib.suppress(OSError):
                os.unlink(spec.path)

    def close(self) -> None:
        for spec in list(self.listeners):
            self._close_listener(spec)
        for client in list(self.clients):
            self._close(client)

    def sockets(self) -> list[socket.socket]:
        """Every socket of ours, for a freshly forked worker to close."""
        return [*self.listeners.values(), *(c.sock for c in self.clients)]

    # --- clients --------------------------------------------------------------------------------

    def accept(self, listener: socket.socket, spec: SocketSpec, mask: int) -> None:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        sock.setblocking(False)
        client = Client(sock, Session(level=spec.level))
        self.clients.add(client)
        self.selector.register(sock, selectors.EVENT_READ, functools.partial(self._ready, client))
        if len(self.clients) >= self.maxconn:
            self._set_full(True)

    def _ready(self, client: Client, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(client)
        if mask & selectors.EVENT_READ and not client.closed:
            self._read(client)

    def _read(self, client: Client) -> None:
        try:
            data = client.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        client.last_active = time.monotonic()
        try:
            lines = client.reader.feed(data) if data else client.reader.finish()
        except protocol.TooLong:
            self._close(client)
            return
        client.lines.extend(lines)
        if not data:
            client.lines.append(END_OF_INPUT)
        elif lines and not client.reader.waiting_payload:
            client.lines.append(END_OF_READ)
        self._flush(client)

    def _run_lines(self, client: Client) -> None:
        """Run the lines read so far while the client's output has room."""
        while client.lines and not client.close_when_done and not self._full(client):
            line = client.lines.popleft()
            if line == END_OF_INPUT or (line == END_OF_READ and not client.session.interactive):
                client.close_when_done = True
            elif not isinstance(line, str):
                self._run_line(client, line)

    @staticmethod
    def _full(client: Client) -> bool:
        return len(client.out) >= MAX_OUTPUT or len(client.replies) >= MAX_INFLIGHT

    def _run_line(self, client: Client, requests: list[protocol.Request]) -> None:
        """One line's commands; an empty line at the prompt gets haproxy 2.6's list of commands."""
        if not requests and client.session.interactive:
            self._push(client, self.table.unknown([], client.session.level))
        for request in requests:
            if request.words and not client.close_when_done:
                self._run(client, request)

    def _run(self, client: Client, request: protocol.Request) -> None:
        session = client.session
        words = request.words
        if words[0] == "quit":
            client.close_when_done = True
        elif words[0] == "prompt":
            session.interactive = not session.interactive
            self._push(client, "")
        elif words[0] == "help":
            self._push(client, self.table.help(session.level, words[1:]))
        elif self.routed is not None and words[0].startswith("@"):
            self._push(client, self._routed(self.routed, session, words, request.payload))
        else:
            reply = self.table.run(self.supervisor, session, words, request.payload)
            if session.closing:
                client.close_when_done = True
            else:
                self._push(client, reply)

    def _routed(self, routed: CommandTable, session: Session, words: list[str],
                payload: str | None) -> str | Pending:
        """``@master <cmd>``, ``@<n> <cmd>``, ``@!<pid> <cmd>``: the master holds every worker's maps and counters."""
        prefix, rest = words[0], words[1:]
        if prefix == "@master":
            return self.table.run(self.supervisor, session, rest, payload) if rest else ""
        if not self.supervisor.knows_process(prefix[1:]):
            return f"Can't find the target PID matching the prefix '{prefix}'\n"
        return routed.run(self.supervisor, session, rest, payload) if rest else ""

    def _push(self, client: Client, reply: str | Pending) -> None:
        pending = reply if isinstance(reply, Pending) else Pending.resolved(reply)
        client.replies.append((pending, client.session.interactive))
        if not pending.done:
            pending.on_done(lambda _value, c=client: self._flush(c))

    def _flush(self, client: Client) -> None:
        """Write what is ready, run waiting lines while there is room, and read only when none wait."""
        if client.closed:
            return
        self._run_lines(client)
        while client.replies and client.replies[0][0].done and len(client.out) < MAX_OUTPUT:
            pending, interactive = client.replies.popleft()
            client.out += protocol.frame(pending.value, interactive)
            if not client.replies:
                self._run_lines(client)
        while client.out:
            try:
                sent = client.sock.send(client.out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._close(client)
                return
            del client.out[:sent]
            client.last_active = time.monotonic()
        if client.close_when_done and not client.replies and not client.out:
            self._close(client)
            return
        reading = not (client.close_when_done or client.lines or self._full(client))
        events = (selectors.EVENT_WRITE if client.out else 0) | (selectors.EVENT_READ if reading else 0)
        if events == client.events:
            return
        callback = functools.partial(self._ready, client)
        if not events:
            self.selector.unregister(client.sock)
        elif not client.events:
            self.selector.register(client.sock, events, callback)
        else:
            self.selector.modify(client.sock, events, callback)
        client.events = events

    def _close(self, client: Client) -> None:
        if client.closed:
            return
        client.closed = True
        self.clients.discard(client)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(client.sock)
        client.sock.close()
        if len(self.clients) < self.maxconn:
            self._set_full(False)

    def expire(self, now: float) -> None:
        """``stats timeout``: close clients idle that long (a client waiting for workers is not idle;
        one that neither sends nor reads is)."""
        for client in list(self.clients):
            waiting = any(not pending.done for pending, _ in client.replies)
            if not waiting and now - client.last_active > self.timeout:
                self._close(client)


def open_socket(spec: SocketSpec) -> socket.socket:
    """Bind one management socket; unix sockets get their mode and owner."""
    if spec.family == "fd":
        sock = socket.socket(fileno=spec.fd)
    elif spec.family == "unix":
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(spec.path).st_mode):
                os.unlink(spec.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(spec.path)
            if spec.mode is not None:
                os.chmod(spec.path, spec.mode)
            if spec.uid is not None or spec.gid is not None:
                os.chown(spec.path, -1 if spec.uid is None else spec.uid, -1 if spec.gid is None else spec.gid)
        except OSError:
            sock.close()
            raise
    else:
        family = socket.AF_INET6 if spec.family == "inet6" else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((spec.host, spec.port))
        except OSError:
            sock.close()
            raise
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock
