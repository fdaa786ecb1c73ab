"""The peers agent: the process of a node that shares its stick tables with the other peers.

The master forks it after loading the configuration (and again after each
reload), as it forks the fleet agent.  It inherits the tables' shared memory,
so it reads local changes and writes what peers send straight into the tables
the workers use; nothing goes through the master.  Under gevent it listens on
the local peer's address and keeps one session with each remote peer, as
HAProxy does: it connects to each of them, and a valid incoming session
replaces the current one.  A session pushes the local changes its peer has
not acknowledged (every ``PUSH_INTERVAL``), answers a resync request with every
entry, acknowledges what it learns, and sends a heartbeat when idle; a peer
silent for ``DEAD_AFTER`` is dropped and connected again.  The agent ends when
the master closes its end of the socketpair.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import ssl
import time
from typing import Any, NoReturn

from luaproxy.worker.sticktable import SharedTable, now_ms
from luaproxy.worker.tls.certs import load_certificate

from ..agent_process import run_patched
from ..config.peers import Peer, PeersConf, Tls, wire_name
from . import codec
from .status import StatusBoard

PUSH_INTERVAL = 0.01
HEARTBEAT = 3.0
DEAD_AFTER = 5.0
RECONNECT = 5.0
CONNECT_TIMEOUT = 2.0
BATCH = 200
BIND_TRIES = 30
PUBLISH_INTERVAL = 0.2


def run(link: socket.socket, section: PeersConf, tables: list[SharedTable], board: StatusBoard) -> NoReturn:
    """Entry point in the forked child; never returns."""
    run_patched(f"luaproxy: peers {section.name}", "peers agent", lambda: Agent(link, section, tables, board).run())


def _server_context(tls: Tls) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    load_certificate(tls.crt).load_into(context)
    if tls.ca_file:
        context.load_verify_locations(tls.ca_file)
    return context


def _client_context(tls: Tls) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if tls.verify:
        if tls.ca_file:
            context.load_verify_locations(tls.ca_file)
        else:
            context.load_default_certs()
    else:
        context.verify_mode = ssl.CERT_NONE
    if tls.crt:
        load_certificate(tls.crt).load_into(context)
    return context


def _listen(address: str) -> socket.socket:
    from gevent import socket as gsocket

    if address.startswith("fd@"):
        return gsocket.socket(fileno=os.dup(int(address[3:])))
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = gsocket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(64)
    return sock


COUNTERS = ("new_conn", "proto_err", "coll", "tx_hbt", "rx_hbt", "no_hbt", "updates_sent", "updates_received")
"""What a peer's snapshot counts since the node started (carried from one agent to the next)."""


class PeerState:
    """What one remote peer has acknowledged, per table: kept across its sessions."""

    def __init__(self, peer: Peer) -> None:
        self.name = peer.name
        self.address = peer.address
        self.reachable = peer.reachable
        self.context = _client_context(peer.tls) if peer.tls is not None else None
        self.acked: dict[str, int] = {}
        self.session: Session | None = None
        self.retry_at = 0.0
        # What ``show peers`` and the peers metrics report (HAProxy's names where it has one).
        self.last_status = "NONE"
        self.last_handshake = 0.0  # when the last handshake ended (0: never)
        self.new_conn = self.proto_err = self.coll = 0
        self.tx_hbt = self.rx_hbt = self.no_hbt = 0
        self.updates_sent = self.updates_received = 0

    def carry_counters(self, previous: dict[str, Any]) -> None:
        """Go on from the counters a former agent published for this peer (a restart, a reload), so that
        ``show peers`` and the metrics' counters never go back."""
        for name in COUNTERS:
            value = previous.get(name)
            if isinstance(value, int):
                setattr(self, name, value)

    def snapshot(self, now: float) -> dict[str, Any]:
        session = self.session
        return {
            "name": self.name, "addr": self.address, "status": self.last_status,
            "handshake_ago": now - self.last_handshake if self.last_handshake else None,
            "reconnect_in": max(0.0, self.retry_at - now) if self.reachable else None,
            "new_conn": self.new_conn, "proto_err": self.proto_err, "coll": self.coll,
            "tx_hbt": self.tx_hbt, "rx_hbt": self.rx_hbt, "no_hbt": self.no_hbt,
            "updates_sent": self.updates_sent, "updates_received": self.updates_received,
            "session": None if session is None or session.closed else session.snapshot(now),
        }


class Agent:
    def __init__(self, link: socket.socket, section: PeersConf, tables: list[SharedTable],
                 board: StatusBoard) -> None:
        from gevent import socket as gsocket

        self.link = gsocket.socket(fileno=link.detach())
        self.section = section
        self.tables = {wire_name(t.name): t for t in tables}
        self.specs = {name: t.spec for name, t in self.tables.items()}
        self.ids = {name: i + 1 for i, name in enumerate(self.tables)}
        self.peers = {p.name: PeerState(p) for p in section.remotes}
        self.context = _server_context(section.bind_tls) if section.bind_tls is not None else None
        self.resynced = False  # asked one peer for everything it knows, once per start
        self.learnt = not any(p.reachable for p in self.peers.values())
        """The start-up resync is over: a peer taught us its tables, or none could (the master waits for
        this, a bounded time, before its first workers serve)."""
        self.board = board
        previous = board.read()  # what the former agent of this section last published, if any
        for published in previous["peers"] if previous is not None else ():
            peer = self.peers.get(published.get("name", ""))
            if peer is not None and not published.get("local"):
                peer.carry_counters(published)
        self.started = time.time()
        self.failed: set[str] = set()  # reachable peers whose first connection failed

    def run(self) -> None:
        import gevent

        for _ in range(BIND_TRIES):  # after a reload, the former agent may hold the port for a moment
            try:
                server = _listen(self.section.listen_address)
                break
            except OSError:
                gevent.sleep(0.1)
        else:
            server = _listen(self.section.listen_address)
        gevent.spawn(self._accept, server)
        for peer in self.peers.values():
            if peer.reachable:
                gevent.spawn(self._connect_loop, peer)
        self.board.publish(self.snapshot())
        gevent.spawn(self._publish_loop)
        while self.link.recv(4096):
            pass
        os._exit(0)  # the master is gone (or replaced us)

    def _publish_loop(self) -> None:
        import gevent

        while True:
            self.board.publish(self.snapshot())
            gevent.sleep(PUBLISH_INTERVAL)

    def snapshot(self) -> dict[str, Any]:
        """The state ``show peers`` prints: every peer (the local one too), in the section's order."""
        now = now_ms() / 1000
        peers = [self.peers[p.name].snapshot(now) if p.name in self.peers else self._local(p.address)
                 for p in self.section.peers]
        if self.section.local is None:
            peers.append(self._local(""))
        return {"pid": os.getpid(), "section": self.section.name, "local": self.section.local_name,
                "started": self.started, "learnt": self.learnt,
                "tables": {name: {"update": t.last_update(), "id": self.ids[name], "label": t.name,
                                  "mask": sum(1 << codec.DATA_BITS[d] for d, _ in t.spec.data if d in codec.DATA_BITS)}
                           for name, t in self.tables.items()},
                "peers": peers}

    def _local(self, address: str) -> dict[str, Any]:
        return {"name": self.section.local_name, "addr": address or self.section.listen_address, "local": True}

    def _accept(self, server: socket.socket) -> None:
        import gevent

        while True:
            sock, _ = server.accept()
            gevent.spawn(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        """An incoming session: check the hello, answer its status, then run it."""
        reader = codec.Reader()
        lines: list[str] = []
        sock.settimeout(DEAD_AFTER)
        try:
            if self.context is not None:
                sock = self.context.wrap_socket(sock, server_side=True)
            while len(lines) < 3:
                data = sock.recv(4096)
                if not data:
                    return
                reader.feed(data)
                while len(lines) < 3 and (line := reader.line()) is not None:
                    lines.append(line)
            code, peer = self._check_hello(lines)
            sock.sendall(codec.status(code))
            if peer is None:
                return
            if peer.session is not None and not peer.session.closed:
                peer.coll += 1  # both sides connected at once: the incoming session replaces ours
            self._handshake(peer, "ESTA")
            self._run_session(peer, sock, reader, incoming=True)
        except (OSError, ssl.SSLError, codec.ProtocolError):
            pass
        finally:
            sock.close()

    @staticmethod
    def _handshake(peer: PeerState, status: str) -> None:
        peer.last_status = status
        peer.last_handshake = now_ms() / 1000
        if status == "ESTA":
            peer.new_conn += 1

    def _check_hello(self, lines: list[str]) -> tuple[int, PeerState | None]:
        words = lines[0].split()
        if len(words) != 2 or words[0] != codec.PROTOCOL:
            return codec.STATUS_PROTOCOL, None
        if words[1] not in codec.ACCEPTED_VERSIONS:
            return codec.STATUS_VERSION, None
        if lines[1] != self.section.local_name:
            return codec.STATUS_HOST, None
        peer = self.peers.get(lines[2].split(" ", 1)[0])
        if peer is None or " " not in lines[2]:
            return (codec.STATUS_PEER if peer is None else codec.STATUS_PROTOCOL), None
        return codec.STATUS_OK, peer

    def _connect_loop(self, peer: PeerState) -> None:
        import gevent

        host, _, port = peer.address.rpartition(":")
        while True:
            if peer.session is not None or peer.retry_at > now_ms() / 1000:
                gevent.sleep(0.1)
                continue
            try:
                sock = socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT)
            except OSError:
                self._handshake(peer, "CONN")
                peer.retry_at = now_ms() / 1000 + RECONNECT
                self._could_not_learn(peer)
                continue
            try:
                sock.settimeout(DEAD_AFTER)
                if peer.context is not None:
                    sock = peer.context.wrap_socket(sock)
                sock.sendall(codec.hello(peer.name, self.section.local_name, os.getpid()))
                reader = codec.Reader()
                line = None
                while line is None:
                    data = sock.recv(4096)
                    if not data:
                        break
                    reader.feed(data)
                    line = reader.line()
                if line == str(codec.STATUS_OK):
                    self._handshake(peer, "ESTA")
                    self._run_session(peer, sock, reader)
                    peer.retry_at = now_ms() / 1000 + random.uniform(0.05, 2.05)
                else:
                    self._handshake(peer, _STATUS_NAMES.get(line or "", "CONN"))
                    peer.retry_at = now_ms() / 1000 + RECONNECT
            except codec.ProtocolError:
                peer.proto_err += 1
                peer.retry_at = now_ms() / 1000 + RECONNECT
            except OSError:
                peer.retry_at = now_ms() / 1000 + RECONNECT
            finally:
                sock.close()
                self._could_not_learn(peer)

    def _could_not_learn(self, peer: PeerState) -> None:
        """A connection to *peer* ended without teaching us: once every reachable peer failed so, the
        start-up resync is over."""
        if self.learnt:
            return
        self.failed.add(peer.name)
        if all(p.name in self.failed for p in self.peers.values() if p.reachable):
            self.has_learnt()

    def has_learnt(self) -> None:
        """The start-up resync is over: say so at once (the master may be waiting for it)."""
        if not self.learnt:
            self.learnt = True
            self.board.publish(self.snapshot())

    def _run_session(self, peer: PeerState, sock: socket.socket, reader: codec.Reader,
                     incoming: bool = False) -> None:
        old = peer.session
        if old is not None:
            old.close()
        session = Session(self, peer, sock, reader, incoming)
        peer.session = session
        try:
            session.run()
        finally:
            if peer.session is session:
                peer.session = None


class Session:
    """One established session with a peer: its reader greenlet and the push loop."""

    def __init__(self, agent: Agent, peer: PeerState, sock: socket.socket, reader: codec.Reader,
                 incoming: bool = False) -> None:
        self.agent = agent
        self.incoming = incoming
        self.addresses = _addresses(sock) if incoming else None
        self.peer = peer
        self.sock = sock
        self.reader = reader
        self.remote: dict[int, codec.RemoteTable] = {}
        self.current: codec.RemoteTable | None = None
        self.current_id = 0
        self.pushed = {name: peer.acked.get(name, 0) for name in agent.tables}
        self.last_local_table = ""
        self.teach = False
        self.closed = False
        self.last_sent = self.last_heard = now_ms() / 1000
        self.to_ack: set[int] = set()
        self.dicts = codec.Dictionaries()

    def snapshot(self, now: float) -> dict[str, Any]:
        return {"incoming": self.incoming, "addresses": self.addresses,
                "heartbeat_in": max(0.0, self.last_sent + HEARTBEAT - now),
                "remote": {name: self._remote_id(name) for name in self.agent.tables},
                "last_local_table": self.last_local_table,
                "pushed": dict(self.pushed), "acked": dict(self.peer.acked),
                "got": {name: self.remote[rid].last_get for name in self.agent.tables
                        if (rid := self._remote_id(name)) and rid in self.remote},
                "dict_tx": [t.decode("latin-1") for t in self.dicts.tx_slots if t is not None],
                "dict_rx": {i: t.decode("latin-1") for i, t in enumerate(self.dicts.rx) if t is not None}}

    def _remote_id(self, name: str) -> int:
        return next((rid for rid, r in self.remote.items()
                     if r.spec is not None and wire_name(r.spec.name) == name), 0)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.last_sent = now_ms() / 1000

    def run(self) -> None:
        import gevent

        self.sock.settimeout(None)
        reading = gevent.spawn(self._read)
        try:
            if not self.agent.resynced:
                self.agent.resynced = True
                self.send(codec.control(codec.CTRL_RESYNC_REQ))
            while not self.closed and not reading.dead:
                self._push()
                now = now_ms() / 1000
                if now - self.last_heard > DEAD_AFTER:
                    self.peer.no_hbt += 1
                    break
                if now - self.last_sent > HEARTBEAT:
                    self.send(codec.control(codec.CTRL_HEARTBEAT))
                    self.peer.tx_hbt += 1
                gevent.sleep(PUSH_INTERVAL)
        except OSError:
            pass
        finally:
            self.closed = True
            reading.kill(block=False)

    # Sending.

    def _push(self) -> None:
        for name, table in self.agent.tables.items():
            if self.teach:
                self._send_entries(name, table, [(table.last_update(), idx) for idx in table.indexes()])
                continue
            if table.last_update() <= self.pushed[name]:
                continue  # nothing new: one shared word read, no lock, no scan
            changed = table.changed_since(self.pushed[name], BATCH)
            if changed:
                self._send_entries(name, table, changed)
                self.pushed[name] = changed[-1][0]
        if self.teach:
            self.teach = False
            self.send(codec.control(codec.CTRL_RESYNC_FINISHED))
        if self.to_ack:
            for table_id in sorted(self.to_ack):
                self.send(codec.ack(table_id, self.remote[table_id].last_get))
            self.to_ack.clear()

    def _send_entries(self, name: str, table: SharedTable, entries: list[tuple[int, int]]) -> None:
        if not entries:
            return
        out = bytearray()
        if self.last_local_table != name:
            out += codec.define(self.agent.ids[name], name, table.spec)
            self.last_local_table = name
        now = now_ms()
        for update_id, idx in entries:
            key = table.key(idx)
            out += codec.update(table.spec, update_id, table.expires_in(idx, now), key, table.raw(idx), now,
                                self.dicts)
        self.send(bytes(out))
        self.peer.updates_sent += len(entries)

    # Receiving.

    def _read(self) -> None:
        try:
            self._handle(self.reader.messages())
            while not self.closed:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.last_heard = now_ms() / 1000
                self.reader.feed(data)
                self._handle(self.reader.messages())
        except codec.ProtocolError:
            self.peer.proto_err += 1
            with contextlib.suppress(OSError):
                self.send(codec.message(codec.CLASS_ERROR, codec.ERR_PROTOCOL))
        except OSError:
            pass
        self.closed = True

    def _handle(self, messages: list[tuple[int, int, bytes]]) -> None:
        for cls, kind, payload in messages:
            if cls == codec.CLASS_CONTROL:
                self._control(kind)
            elif cls == codec.CLASS_TABLE:
                self._table_message(kind, payload)
            elif cls in (codec.CLASS_ERROR, codec.CLASS_RESERVED):
                raise OSError("the peer reported an error")

    def _control(self, kind: int) -> None:
        if kind == codec.CTRL_HEARTBEAT:
            self.peer.rx_hbt += 1
        elif kind == codec.CTRL_RESYNC_REQ:
            self.teach = True
        elif kind in (codec.CTRL_RESYNC_FINISHED, codec.CTRL_RESYNC_PARTIAL):
            self.send(codec.control(codec.CTRL_RESYNC_CONFIRM))
            self.agent.has_learnt()

    def _table_message(self, kind: int, payload: bytes) -> None:
        if kind == codec.DEFINE:
            table_id, remote = codec.parse_define(payload, self.agent.specs)
            self.remote[table_id] = remote
            self.current, self.current_id = remote, table_id
        elif kind == codec.SWITCH:
            self.current_id = codec.parse_switch(payload)
            self.current = self.remote.get(self.current_id)
        elif kind in (codec.UPDATE, codec.INC_UPDATE, codec.UPDATE_TIMED, codec.INC_UPDATE_TIMED):
            self._learn(kind, payload)
        elif kind == codec.ACK:
            table_id, update_id = codec.parse_ack(payload)
            name = next((n for n, i in self.agent.ids.items() if i == table_id), None)
            if name is not None:
                acked = self._widen(update_id, self.agent.tables[name].last_update())
                self.peer.acked[name] = max(self.peer.acked.get(name, 0), acked)

    def _learn(self, kind: int, payload: bytes) -> None:
        remote = self.current
        if remote is None:
            return
        found = codec.parse_update(kind, payload, remote, now_ms(), self.dicts)
        self.to_ack.add(self.current_id)
        self.peer.updates_received += 1
        if found is None or remote.spec is None:
            return
        table = self.agent.tables[wire_name(remote.spec.name)]
        expire = table.spec.expire_ms if found.expire_ms is None else found.expire_ms
        table.merge(found.key, found.values, expire)

    @staticmethod
    def _widen(update_id: int, latest: int) -> int:
        """A 32-bit acknowledged id as our 64-bit update counter (the highest one not above *latest*)."""
        base = latest & ~codec.U32
        value = base | update_id
        return value - (1 << 32) if value > latest and value >= 1 << 32 else value



_STATUS_NAMES = {str(codec.STATUS_RETRY): "RETR", str(codec.STATUS_PROTOCOL): "PROT",
                 str(codec.STATUS_VERSION): "VERS", str(codec.STATUS_HOST): "NAME", str(codec.STATUS_PEER): "UNKN"}
"""A refused handshake as HAProxy's ``last_status`` names it."""


def _addresses(sock: Any) -> tuple[str, str] | None:
    """(the peer's address, our address) of an incoming session, as ``host:port``."""
    try:
        return _host_port(sock.getpeername()), _host_port(sock.getsockname())
    except OSError:
        return None


def _host_port(addr: Any) -> str:
    return f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)
