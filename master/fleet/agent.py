"""The fleet agent: the one process of a node that talks to Redis.

The master forks it (as it forks workers) and keeps the maps; the agent only
carries changes between the master's socketpair and Redis, under gevent with
the ``redis`` client.  Three greenlets: ``_from_master`` reads the master's
requests into one queue, ``_serve`` runs them in order on one connection
(handshake: seed, replay, snapshot; publish: one script call each), and
``_tail`` follows the event stream on a second connection and forwards each
batch.  Any Redis error ends the connection: the agent says so once, retries
with a growing delay, and says when it is connected again; the master then
sends a new handshake.  The agent ends when the master closes the socketpair.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from typing import Any, NoReturn

from ..agent_process import run_patched
from ..control import wire
from . import scripts

RETRY_FIRST = 0.05
RETRY_MAX = 0.5
BLOCK_MS = 1000
TAIL_BATCH = 1000
SOCKET_TIMEOUT = 10.0  # a handshake with big lists runs long scripts
CONNECT_TIMEOUT = 1.0
PUBLISH_BATCH = 500


class LinkLost(Exception):
    """Redis went away (or lost the fleet's data): sync again from the start."""


def preload() -> None:
    """In the master, once: import what the agent needs, so a new agent connects at once after its fork
    (the modules are patched for gevent in the agent; redis-py looks its socket functions up at call time)."""
    import gevent.monkey  # noqa: F401
    import redis  # noqa: F401


def run(sock: socket.socket, url: str, fleet: str, node: str) -> NoReturn:
    """Entry point in the forked child; never returns."""
    run_patched("luaproxy: fleet", "fleet agent", lambda: Agent(sock, url, fleet, node).run())


class Agent:
    def __init__(self, sock: socket.socket, url: str, fleet: str, node: str) -> None:
        import gevent.lock
        import gevent.queue
        import redis
        from gevent import socket as gsocket
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.sock = gsocket.socket(fileno=sock.detach())
        self.sending = gevent.lock.Semaphore()
        self.keys = scripts.Keys(fleet)
        self.node = node
        options = {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": CONNECT_TIMEOUT,
                   "retry": Retry(NoBackoff(), 0), "health_check_interval": 0}
        self.redis = redis.Redis.from_url(url, single_connection_client=True, **options)
        self.tail_redis = redis.Redis.from_url(url, single_connection_client=True, **options)
        self.errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError, LinkLost)
        self.work: gevent.queue.Queue[dict[str, Any]] = gevent.queue.Queue()
        self.connected = False
        self.epoch = ""
        self.tail_greenlet: Any = None
        self.init = self.redis.register_script(scripts.INIT)
        self.publish = self.redis.register_script(scripts.PUBLISH)

    # The master's side.

    def send(self, message: dict[str, Any]) -> None:
        with self.sending:  # the tail and the request loop both send: one message at a time
            self.sock.sendall(wire.encode(message))

    def _from_master(self) -> None:
        decoder = wire.Decoder()
        while True:
            data = self.sock.recv(256 * 1024)
            if not data:
                os._exit(0)  # the master is gone: nothing left to sync for
            for message in decoder.feed(data):
                if self.connected:
                    self.work.put(message)

    # The connection's life.

    def run(self) -> None:
        import gevent

        gevent.spawn(self._from_master)
        delay = RETRY_FIRST
        reported = ""
        while True:
            try:
                self._connect()
                delay = RETRY_FIRST
                reported = ""
                self._serve()
            except self.errors as exc:
                self._disconnect()
                error = _describe(exc)
                if not reported:
                    self.send({"t": "link", "state": "down", "error": error})
                    reported = error
            gevent.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _connect(self) -> None:
        self.redis.ping()
        self.connected = True
        self.send({"t": "link", "state": "connected"})

    def _disconnect(self) -> None:
        self.connected = False
        self._stop_tail()
        while not self.work.empty():
            self.work.get_nowait()
        self.redis.connection_pool.disconnect()

    def _serve(self) -> None:
        while True:
            message = self.work.get()
            kind = message.get("t")
            if kind == "lost":
                raise message["error"]
            if kind == "handshake":
                self._handshake(message)
            elif kind == "publish":
                batch = [message]
                while len(batch) < PUBLISH_BATCH and not self.work.empty() and self.work.peek().get("t") == "publish":
                    batch.append(self.work.get())
                self._publish_all(batch)

    # Requests.

    def _handshake(self, message: dict[str, Any]) -> None:
        """Start or join the epoch (seeding the lists Redis lacks), carry over what this node saw of a lost
        epoch, replay what was changed here while away, then load every list."""
        self._stop_tail()
        lists = message["lists"]
        keys = [self.keys.epoch, self.keys.base, self.keys.seq, self.keys.events,
                *(key for item in lists for key in self.keys.list_keys(item["id"]))]
        args = [secrets.token_hex(8), message["epoch"], message["last_g"], scripts.STREAM_MAXLEN,
                *(arg for item in lists for arg in (item["id"], item["kind"], json.dumps(item["entries"])))]
        epoch, prev_epoch, carried, seeded_at = self.init(keys, args)
        self.epoch = _text(epoch)
        seeded = {lists[int(i)]["id"] for i in seeded_at}
        if message["epoch"] and _text(prev_epoch) == message["epoch"]:
            self._carry(message["history"], int(carried))
        replay = []
        for change in message["replay"]:
            if change["list"] in seeded:  # this node's content, changes included, became the fleet's
                self.send({"t": "published", "seq": change["seq"], "status": "dup"})
            else:
                replay.append(change)
        for start in range(0, len(replay), PUBLISH_BATCH):
            self._publish_all(replay[start:start + PUBLISH_BATCH])
        snapshot = self._snapshot([item["id"] for item in message["lists"]])
        self.send({"t": "snapshot", "hid": message["hid"], "seeded": sorted(seeded), "epoch": self.epoch, **snapshot})
        self.tail_greenlet = _spawn(self._tail, snapshot["id"])

    def _carry(self, history: list[list[Any]], carried: int) -> None:
        """The lost epoch's changes after *carried* that this node applied: each enters the new epoch once
        (whichever node carries it first), in their order."""
        pending = [{"seq": 0, "list": identity, "change": change, "old": g}
                   for g, identity, change in history if g > carried]
        for start in range(0, len(pending), PUBLISH_BATCH):
            pipe = self.redis.pipeline(transaction=False)
            for change in pending[start:start + PUBLISH_BATCH]:
                self.publish(*self._publish_args(change), client=pipe)
            if any(_text(reply[0]) in ("gap", "epoch") for reply in pipe.execute()):
                return

    def _publish_all(self, batch: list[dict[str, Any]]) -> None:
        """Run the publish script for each change, in order, in one round trip."""
        if len(batch) == 1:
            replies = [self.publish(*self._publish_args(batch[0]))]
        else:
            pipe = self.redis.pipeline(transaction=False)
            for change in batch:
                self.publish(*self._publish_args(change), client=pipe)
            replies = pipe.execute()
        for change, reply in zip(batch, replies, strict=True):
            self.send(self._published(change, reply))

    def _publish_args(self, message: dict[str, Any]) -> tuple[list[str], list[Any]]:
        keys = [*self.keys.list_keys(message["list"]), self.keys.epoch, self.keys.seq, self.keys.events,
                self.keys.node(self.node), self.keys.base]
        args = [self.epoch, message["list"], json.dumps(message["change"]), self.node, message["seq"],
                scripts.STREAM_MAXLEN, scripts.NODE_SEQ_TTL, message.get("old", "")]
        return keys, args

    def _published(self, message: dict[str, Any], reply: list[Any]) -> dict[str, Any]:
        """The master's view of one script reply (a lost epoch ends the connection)."""
        words = [_text(part) for part in reply]
        if words[0] == "epoch":
            raise LinkLost("the fleet's data changed in Redis")
        out: dict[str, Any] = {"t": "published", "seq": message["seq"], "status": words[0]}
        if words[0] == "ok":
            out.update(g=int(words[1]), v=int(words[2]), id=words[3])
        elif words[0] == "err":
            out["error"] = words[1]
        return out

    def _snapshot(self, identities: list[str]) -> dict[str, Any]:
        """Every list, the fleet's counter and the stream's last id, read in one transaction."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.keys.seq)
        pipe.xrevrange(self.keys.events, count=1)
        for identity in identities:
            meta, entries, _ = self.keys.list_keys(identity)
            pipe.hget(meta, "v")
            pipe.hgetall(entries)
        replies = pipe.execute()
        last = replies[1]
        lists = {}
        for position, identity in enumerate(identities):
            version, entries = replies[2 + 2 * position: 4 + 2 * position]
            ordered = sorted(entries.items(), key=lambda item: int(item[0]))
            lists[identity] = {"v": int(version or 0), "entries": [_entry(data) for _, data in ordered]}
        return {"g": int(replies[0] or 0), "id": _text(last[0][0]) if last else "0-0", "lists": lists}

    # The stream.

    def _stop_tail(self) -> None:
        if self.tail_greenlet is not None:
            self.tail_greenlet.kill()
            self.tail_greenlet = None
        self.tail_redis.connection_pool.disconnect()  # a read cut short leaves its reply on the wire

    def _tail(self, last: str) -> None:
        try:
            while True:
                replies = self.tail_redis.xread({self.keys.events: last}, count=TAIL_BATCH, block=BLOCK_MS)
                if not replies:
                    if _text(self.tail_redis.get(self.keys.epoch) or b"") != self.epoch:
                        raise LinkLost("the fleet's data changed in Redis")
                    continue
                events = []
                for event_id, fields in replies[0][1]:
                    last = _text(event_id)
                    data = {_text(k): _text(v) for k, v in fields.items()}
                    events.append({"id": last, "g": int(data["g"]), "list": data["list"], "v": int(data["v"]),
                                   "n": int(data["n"]), "node": data["node"], "seq": int(data["seq"]),
                                   "change": json.loads(data["change"])})
                self.send({"t": "events", "events": events})
        except self.errors as exc:
            self.work.put({"t": "lost", "error": exc if isinstance(exc, LinkLost) else LinkLost(_describe(exc))})


def _spawn(function: Any, *args: Any) -> Any:
    import gevent

    return gevent.spawn(function, *args)


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _entry(data: bytes) -> list[Any]:
    decoded = json.loads(data)
    return [decoded[0], decoded[1] if len(decoded) > 1 else None]


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
