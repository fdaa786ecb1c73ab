"""The worker's end of the control socket: apply the master's map and ACL changes, answer it.

Built in the master before the fork (it only keeps the socket and what it
will need); ``start`` runs in the worker once the listeners accept.  Lua's
core.set_map & co. (through ``PatternUpdates.publish``) go up to the master,
which applies them and sends them to every worker, this one included, so
every copy ends in the master's order.  Sends go through a queue drained by
one greenlet, so ``publish`` never blocks a Lua call.
"""

from __future__ import annotations

import socket
from typing import Any

import gevent
from gevent import socket as gsocket
from gevent.event import AsyncResult
from gevent.queue import Queue

from luaproxy.master.control import changes, runtime, wire
from luaproxy.master.control.changes import PatternChange

from .backend.attached import shut_sessions
from .backend.state import ServerChangeError, find_server, resolve_server
from .filters.cache import show as show_caches
from .samples import PatternLibrary, SampleError
from .tls import CertError, TlsError
from .tls import runtime as tls_runtime

STATS_TIMEOUT = 2.0


class ControlAgent:
    def __init__(self, sock: socket.socket, library: PatternLibrary, updates: Any, context: Any,
                 server_updates: Any = None, set_proc_var: Any = None) -> None:
        self.sock: Any = sock
        self.library = library
        self.updates = updates  # the Lua engine's PatternUpdates: its publish hook is ours
        self.server_updates = server_updates  # the Lua engine's ServerUpdates: likewise
        self.context = context
        self.set_proc_var = set_proc_var  # (store, name, 'expr'|'fmt', text) -> error text: the CLI's set var
        self.outbox: Queue[bytes] = Queue()
        self.waiting: dict[int, AsyncResult] = {}
        self.seq = 0

    def start(self) -> None:
        """In the worker, after the listeners started: read, write, and tell the master we serve."""
        self.sock = gsocket.socket(fileno=self.sock.detach())
        self.updates.publish = self.publish
        if self.server_updates is not None:
            self.server_updates.publish = self.publish_runtime
            self.server_updates.broadcast = self.broadcast
        self.context.stats_source = self.all_stats
        self.context.publish_runtime = self.publish_runtime
        gevent.spawn(self._write)
        gevent.spawn(self._read)
        self.send({"t": "ready"})

    def send(self, message: wire.Message) -> None:
        self.outbox.put(wire.encode(message))

    def beat(self) -> None:
        """The heartbeat: the master's watchdog kills a worker that stops sending it."""
        self.send({"t": "beat"})

    def publish(self, operation: str, file: str, key: str, value: str | None) -> None:
        """A Lua (or http-request) map/ACL change made here: the master spreads it."""
        self.send({"t": "publish", "change": changes.lua_change(operation, file, key, value).to_wire()})

    def shut_server_sessions(self, message: wire.Message) -> int:
        """``shutdown sessions server`` / another worker's Server:shut_sess(): cut this worker's ones."""
        try:
            _, server = resolve_server(self.context.all_proxies, message["server"])
        except ServerChangeError:
            return 0
        return shut_sessions(server)

    def broadcast(self, message: wire.Message) -> None:
        """A request for every other worker (Lua's Server:shut_sess()), sent through the master."""
        self.send({"t": "broadcast", "message": message})

    def publish_runtime(self, change: Any) -> None:
        """A server change made here (Lua): the master applies it, then every worker, this one included."""
        self.send({"t": "publish-runtime", "change": runtime.to_wire(change)})

    def all_stats(self) -> list[dict[str, Any]]:
        """Every worker's snapshot, through the master (this worker's alone if the master is slow)."""
        self.seq += 1
        seq = self.seq
        result = AsyncResult()
        self.waiting[seq] = result
        self.send({"t": "stats-all", "seq": seq})
        try:
            return result.get(timeout=STATS_TIMEOUT)
        except gevent.Timeout:
            return [self.context.snapshot()]
        finally:
            self.waiting.pop(seq, None)

    def _write(self) -> None:
        while True:
            data = self.outbox.get()
            try:
                self.sock.sendall(data)
            except OSError:
                return

    def _read(self) -> None:
        decoder = wire.Decoder()
        while True:
            try:
                data = self.sock.recv(256 * 1024)
            except OSError:
                return
            if not data:
                return
            for message in decoder.feed(data):
                self.handle(message)

    def handle(self, message: wire.Message) -> None:
        kind = message.get("t")
        if kind == "change":
            self.send(self.apply(message))
        elif kind in ("ssl-cert", "ssl-crt-list", "ssl-cafile", "ssl-ocsp"):
            self.send(self.apply_tls(message))
        elif kind == "stats":
            self.send({"t": "stats", "seq": message["seq"], "data": self.context.snapshot()})
        elif kind == "runtime":
            self.send(self.apply_runtime(message))
        elif kind == "errors":
            self.send({"t": "ack", "seq": message["seq"], "result": self.context.captures.snapshot()})
        elif kind == "caches":
            self.send({"t": "ack", "seq": message["seq"], "result": show_caches(self.context.all_proxies)})
        elif kind == "sessions":
            self.send({"t": "ack", "seq": message["seq"], "result": self.context.sessions.lines()})
        elif kind == "server-busy":
            found = find_server(self.context.all_proxies, message["backend"], message["server"])
            self.send({"t": "ack", "seq": message["seq"], "result": bool(found and found[1].current_conns)})
        elif kind == "shutdown-session":
            found = self.context.sessions.shutdown(message["id"])
            self.send({"t": "ack", "seq": message["seq"], "result": found})
        elif kind == "set-var" and self.set_proc_var is not None:
            error = self.set_proc_var(self.context.proc_vars, message["name"], message["mode"], message["text"])
            self.send({"t": "ack", "seq": message["seq"], "result": error})
        elif kind == "shutdown-server-sessions":
            self.send({"t": "ack", "seq": message.get("seq", 0), "result": self.shut_server_sessions(message)})
        elif kind == "changes":
            self.send(self.apply_all(message))
        elif kind == "digest":
            self.send({"t": "ack", "seq": message["seq"], "result": changes.digest(self.library)})
        elif kind == "stats-all":
            waiting = self.waiting.get(message["seq"])
            if waiting is not None:
                waiting.set(message["data"])

    def apply_tls(self, message: wire.Message) -> wire.Message:
        """``commit ssl cert``, ``add|del ssl crt-list`` reaching this worker: new connections see the change."""
        try:
            tls_runtime.apply(self.context.all_proxies, message)
        except (CertError, TlsError) as exc:
            return {"t": "ack", "seq": message["seq"], "error": str(exc)}
        return {"t": "ack", "seq": message["seq"], "result": None}

    def apply_all(self, message: wire.Message) -> wire.Message:
        """A batch of changes from the fleet, in order: one answer, naming the ones that failed here."""
        errors = []
        for data in message["changes"]:
            try:
                changes.apply(self.library, PatternChange.from_wire(data))
            except SampleError as exc:
                errors.append(f"{data['op']} {data['target']}: {exc}")
        if errors:
            return {"t": "ack", "seq": message["seq"], "error": "; ".join(errors)}
        return {"t": "ack", "seq": message["seq"], "result": None}

    def apply(self, message: wire.Message) -> wire.Message:
        try:
            result = changes.apply(self.library, PatternChange.from_wire(message["change"]))
        except SampleError as exc:
            return {"t": "ack", "seq": message["seq"], "error": str(exc)}
        return {"t": "ack", "seq": message["seq"], "result": result}

    def apply_runtime(self, message: wire.Message) -> wire.Message:
        """Worker 1 logs the change, as it reports health checks; the others apply it quietly, and so do all
        when the worker that made it (Lua) already logged it."""
        logger = self.context.logger if self.context.index == 1 and not message.get("logged") else _QUIET
        try:
            text = runtime.apply(self.context.all_proxies, runtime.from_wire(message["change"]), logger,
                                 self.context.listeners, self.context.health)
        except ServerChangeError as exc:
            return {"t": "ack", "seq": message["seq"], "error": str(exc)}
        return {"t": "ack", "seq": message["seq"], "result": text}


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


_QUIET = _Quiet()
