"""The master's supervisor loop, after gunicorn's arbiter.

Signal handlers only queue the signal and wake the loop through a pipe; one
selector waits on that pipe, the workers' control sockets and the management
sockets.  Each turn dispatches ``handle_<signal>``, reaps dead workers, spawns
what is missing and retires an old generation once the new one serves.  The
master never starts a gevent hub, so a fork copies an idle process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

from luaproxy.worker import stats
from luaproxy.worker.backend.balance import algorithm_name
from luaproxy.worker.backend.state import ServerChangeError
from luaproxy.worker.control_agent import ControlAgent
from luaproxy.worker.custom_metrics import MetricSet
from luaproxy.worker.process import Worker, WorkerSpec
from luaproxy.worker.samples import SampleError
from luaproxy.worker.tls import Certificate
from luaproxy.worker.tls import runtime as tls_runtime

from . import handoff, proc_vars, reload, systemd
from .agent_process import fork_with_link
from .config.errors import ConfigErrors
from .control import changes
from .control import runtime as runtime_changes
from .control.changes import PatternChange
from .control.fanout import Fanout, Outcome
from .control.link import Link
from .fleet import agent as fleet_agent
from .fleet.sync import Counters, FleetSync, status_text
from .management import formats
from .management.addresses import SocketSpec
from .management.commands import MASTER_COMMANDS, with_lua_commands
from .management.pending import Pending
from .management.runtime_commands import RUNTIME_STATS_COMMANDS
from .management.server import ManagementServer
from .peers.supervisor import PeersAgents
from .programs import Programs
from .reload import Generation
from .resolvers import ServerResolvers
from .runtime_store import RuntimeStore
from .sockets import BindError, Listening
from .version import VERSION
from .worker_handle import WorkerHandle

SpecFactory = Callable[[int], WorkerSpec]
STOP_TIMEOUT = 5.0
RESPAWN_BACKOFF_MAX = 10.0
QUICK_EXIT_SECONDS = 1.0
ACK_TIMEOUT = 5.0
STATS_TIMEOUT = 2.0
MASTER_STALL = 2.0
"""The loop wakes at least every second: a longer gap means the master itself was stopped or starved."""
STATS_INTERVAL = 0.05
"""At most one stats collection per this many seconds (more when one takes long): every command that asks
meanwhile shares the next one."""
READY_TIMEOUT = 10.0


class Arbiter:
    SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1,
               signal.SIGUSR2, signal.SIGCHLD)

    def __init__(self, generation: Generation, listening: list[Listening],
                 spec_factory: Callable[[Generation, list[Listening]], SpecFactory], logger: Any,
                 systemd_mode: bool = False, master_cli: SocketSpec | None = None,
                 finish: tuple[tuple[int, int], ...] = ()) -> None:
        self.generation = generation
        self.listening = listening
        self.spec_factory = spec_factory
        self.make_spec = spec_factory(generation, listening)
        self.store = generation.map_store()
        self.runtime = RuntimeStore(generation.proxies)
        self.logger = logger
        self.systemd_mode = systemd_mode
        self.master_cli = master_cli
        self.finish = finish  # (pid, signal) for -sf/-st, sent once our workers serve
        self.workers: dict[int, WorkerHandle] = {}
        self.number = 1  # the current generation; bumped by each reload
        self.reloads = 0
        self.failed_reloads = 0
        self.started = time.time()
        self.awaiting_ready: float | None = None  # deadline for the current generation to serve
        self.retired_sockets: list[socket.socket] = []
        self.metrics = MetricSet()
        self.restarts = self.metrics.define("luaproxy_worker_restarts_total", "counter",
                                            "Workers that died and were started again.")
        self.map_updates = self.metrics.define("luaproxy_map_updates_total", "counter",
                                               "Runtime map and ACL changes applied, by list kind and source.",
                                               ("kind", "source"))
        self.last_stats: dict[str, dict[str, Any]] = {}  # worker label -> what it last reported
        self.retired_stats: list[dict[str, Any]] = []  # dead workers' last reports (this generation)
        self.stats_waiting: list[Pending] = []  # asked for stats after the running collection started
        self.stats_running = False
        self.stats_next = 0.0  # when the next collection may start
        self.last_watch = time.monotonic()  # when watch_heartbeats last ran
        self.retire_deadlines: dict[int, float] = {}
        self.signal_queue: list[int] = []
        self.backoff: dict[int, float] = {}
        self.next_spawn: dict[int, float] = {}
        self.fanout = Fanout()
        self.cert_transaction: tuple[str, Certificate] | None = None
        """``set ssl cert``'s pending certificate (one at a time, as in HAProxy)."""
        self.fleet: FleetSync | None = None
        self.agent: WorkerHandle | None = None  # the fleet agent, the only process that talks to Redis
        self.next_agent_spawn = 0.0
        self.make_fleet()
        self.spare_certs: dict[str, Certificate | None] = {}
        """``new ssl cert`` stores, not in any crt-list yet (None until committed)."""
        self.peers = PeersAgents(logger)  # one agent per peers section, sharing the stick tables
        self.peers.configure(generation)
        self.programs = Programs(logger)  # the 'program' sections' processes
        self.selector = selectors.DefaultSelector()
        self.drainer = handoff.Drainer(self.selector, logger)  # a silent worker's queue, served by the others
        self.pipe_r, self.pipe_w = os.pipe()
        os.set_blocking(self.pipe_r, False)
        os.set_blocking(self.pipe_w, False)
        self.selector.register(self.pipe_r, selectors.EVENT_READ, self._drain_pipe)
        self.resolvers = ServerResolvers(self.selector, self.spread_runtime)  # servers with 'resolvers'
        self.resolvers.configure(generation.config.resolvers, generation.proxies, time.monotonic())
        timeout = generation.settings.stats_timeout
        commands = with_lua_commands(RUNTIME_STATS_COMMANDS, generation.engine)
        self.stats_server = ManagementServer(self.selector, self, commands, timeout)
        self.stats_server.maxconn = generation.settings.stats_maxconn
        self.master_server = ManagementServer(self.selector, self, MASTER_COMMANDS, timeout, routed=commands)

    @property
    def nbproc(self) -> int:
        return self.generation.settings.nbproc

    @property
    def hard_stop_after(self) -> float | None:
        return self.generation.settings.hard_stop_after

    # Signals: record and wake, nothing more.

    def init_signals(self) -> None:
        for sig in self.SIGNALS:
            signal.signal(sig, self.signal)

    def signal(self, sig: int, frame: object) -> None:
        self.signal_queue.append(sig)
        with contextlib.suppress(OSError):
            os.write(self.pipe_w, b".")

    def _drain_pipe(self, mask: int) -> None:
        with contextlib.suppress(OSError):
            while os.read(self.pipe_r, 1024):
                pass

    def sleep(self, timeout: float) -> None:
        """Wait for a signal, a worker's message or a management client, at most *timeout* seconds."""
        for key, mask in self.selector.select(max(timeout, 0.0)):
            key.data(mask)

    # The loop.

    def run(self) -> int:
        self.init_signals()
        try:
            self.stats_server.listen(self.generation.stats_sockets)
            if self.master_cli is not None:
                self.master_server.listen([self.master_cli])
        except OSError as exc:
            self.logger.alert(f"Starting the management socket: cannot bind ({exc.strerror})")
            self.close_servers()
            return 1
        self.awaiting_ready = time.monotonic() + READY_TIMEOUT
        self.programs.start(self.generation.config.programs)
        self.manage_workers()
        try:
            while True:
                while self.signal_queue:
                    sig = self.signal_queue.pop(0)
                    handler = getattr(self, f"handle_{signal.Signals(sig).name[3:].lower()}")
                    exit_code = handler()
                    if exit_code is not None:
                        return exit_code
                self.reap_workers()
                self.manage_workers()
                self.check_ready()
                self.murder_workers()
                self.watch_heartbeats()
                self.drainer.update(self.current_workers(), self.listening, time.monotonic())
                now = time.monotonic()
                self.fanout.expire(now)
                self.start_stats_collection()
                self.resolvers.tick(now)
                self.stats_server.expire(now)
                self.master_server.expire(now)
                deadlines = [d for d in (self.fanout.next_deadline(), self.stats_deadline(), self.watchdog_deadline(),
                                         self.drainer.next_deadline(self.current_workers()),
                                         self.resolvers.next_deadline()) if d is not None]
                self.sleep(min([1.0, *(d - now for d in deadlines)]))
        finally:
            self.close_servers()

    def handle_chld(self) -> None:
        self.reap_workers()

    def handle_term(self) -> int:
        return self.stop(signal.SIGTERM, exit_code=0)

    def handle_int(self) -> int:
        return self.stop(signal.SIGTERM, exit_code=130)

    def handle_quit(self) -> int:
        return self.stop(signal.SIGTERM, exit_code=0)

    def handle_usr1(self) -> int:
        """Soft stop: workers stop accepting and finish what they serve, within hard-stop-after."""
        return self.stop(signal.SIGUSR1, self.hard_stop_after, exit_code=0)

    def handle_hup(self) -> None:
        self.reload()

    handle_usr2 = handle_hup

    # Reload.

    def reload(self) -> None:
        """Load the configuration again; new workers take over the same sockets, then the old ones soft-stop."""
        self.notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}", "STATUS=Reloading.")
        self.logger.notice("Reloading luaproxy")
        try:
            generation = reload.load_and_init(self.generation.files, self.logger, self.generation)
            listening, unused = reload.rebind(generation.frontends, generation.settings.nbproc, self.listening)
        except (ConfigErrors, BindError) as exc:
            for line in (exc.errors if isinstance(exc, ConfigErrors) else [exc]):
                self.logger.alert(f"config : {line}")
            self.logger.alert("Reload failed: the current workers keep serving the previous configuration.")
            self.failed_reloads += 1
            self.notify("READY=1", "STATUS=Reload failed; serving the previous configuration.")
            return
        store = generation.map_store()
        kept, file_won = store.carry_over(self.store)
        if kept:
            self.logger.notice(f"Reload kept the runtime changes of: {', '.join(kept)}")
        if file_won:
            self.logger.warning(f"Reload: changed on disk, the file wins for: {', '.join(file_won)}")
        runtime = RuntimeStore(generation.proxies)
        kept, config_won = runtime.carry_over(self.runtime)
        if kept:
            self.logger.notice(f"Reload kept the runtime state of: {', '.join(kept)}")
        if config_won:
            self.logger.warning(f"Reload: changed in the configuration, it wins for: {', '.join(config_won)}")
        if generation.tables.kept:
            self.logger.notice(f"Reload kept the stick tables: {', '.join(generation.tables.kept)}")
        try:
            self.stats_server.maxconn = generation.settings.stats_maxconn
            self.stats_server.listen(generation.stats_sockets)
        except OSError as exc:
            self.logger.alert(f"Reload: cannot bind a management socket ({exc.strerror}); keeping the others")
        previous = self.generation.settings.fleet_sync
        self.generation, self.listening, self.store, self.runtime = generation, listening, store, runtime
        self.programs.reload(generation.config.programs)
        self.stats_server.table = self.master_server.routed = with_lua_commands(RUNTIME_STATS_COMMANDS,
                                                                                generation.engine)
        if generation.settings.fleet_sync != previous:
            self.stop_agent()
            self.make_fleet()
        elif self.fleet is not None:
            self.fleet.store = store
            if self.fleet.state in ("syncing", "up"):
                self.fleet.handshake()
        self.peers.configure(generation)
        self.resolvers.configure(generation.config.resolvers, generation.proxies, time.monotonic())
        self.make_spec = self.spec_factory(generation, listening)
        self.retired_sockets += unused
        self.number += 1
        self.reloads += 1
        self.last_stats.clear()
        self.retired_stats.clear()
        self.backoff.clear()
        self.next_spawn.clear()
        self.awaiting_ready = time.monotonic() + READY_TIMEOUT
        self.manage_workers()

    def check_ready(self) -> None:
        """Once every slot of the current generation serves (or after READY_TIMEOUT), retire the old one."""
        if self.awaiting_ready is None:
            return
        current = [h for h in self.workers.values() if h.generation == self.number]
        all_ready = len({h.index for h in current if h.ready}) >= self.nbproc
        if not all_ready and time.monotonic() < self.awaiting_ready:
            return
        self.awaiting_ready = None
        self.retire_old_workers()
        for pid, sig in self.finish:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        self.finish = ()
        self.notify("READY=1", f"MAINPID={os.getpid()}",
                    f"STATUS=Ready with {self.nbproc} worker(s), {self.reloads} reload(s).")
        self.logger.notice("Loading success.")
        if not self.reloads:
            self.logger.notice(f"luaproxy version is {VERSION}")
            self.logger.notice(f"path to executable is {os.path.realpath(sys.argv[0])}")

    def retire_old_workers(self) -> None:
        now = time.monotonic()
        for handle in self.workers.values():
            if handle.generation < self.number and not handle.retiring:
                handle.retiring = True
                self._kill(handle.pid, signal.SIGUSR1)
                if self.hard_stop_after is not None:
                    self.retire_deadlines[handle.pid] = now + self.hard_stop_after
        for sock in self.retired_sockets:
            reload.retire(sock)
        self.retired_sockets = []

    def murder_workers(self) -> None:
        """hard-stop-after: an old worker still draining after that long is stopped at once."""
        now = time.monotonic()
        for pid, deadline in list(self.retire_deadlines.items()):
            if now >= deadline:
                self._kill(pid, signal.SIGTERM if now < deadline + STOP_TIMEOUT else signal.SIGKILL)

    def stick_tables(self) -> dict[str, Any]:
        return self.generation.tables.tables

    @property
    def watchdog(self) -> float:
        return self.generation.settings.watchdog

    def _heartbeat_due(self, handle: WorkerHandle) -> float:
        """When a worker that has not beaten since is declared stuck (a starting one gets READY_TIMEOUT)."""
        return handle.last_beat + self.watchdog if handle.last_beat else handle.started + READY_TIMEOUT

    def watchdog_deadline(self) -> float | None:
        if not self.watchdog:
            return None
        return min((self._heartbeat_due(h) for h in self.workers.values() if not h.killed), default=None)

    def current_workers(self) -> list[WorkerHandle]:
        """This generation's workers (a reload's former ones drain on their own)."""
        return [h for h in self.workers.values() if h.generation == self.number]

    def watch_heartbeats(self) -> None:
        """The watchdog: a worker silent on its control socket for ``watchdog`` seconds is stuck or stopped.

        It gets SIGKILL (a stopped or spinning process would not act on anything
        else) and is respawned by the usual reaping.  Its listening sockets stay
        open in the master, which forked it with them: connections the kernel
        queued on them meanwhile are accepted by the new worker, which inherits
        the same sockets, so none is lost.
        """
        if not self.watchdog:
            return
        now = time.monotonic()
        stalled, self.last_watch = now - self.last_watch > MASTER_STALL, now
        if stalled:
            # The master did not run (stopped, starved): the workers' beats wait unread in their
            # sockets, so their silence proves nothing. Start counting again.
            for handle in self.workers.values():
                if handle.last_beat:
                    handle.last_beat = now
            return
        for handle in list(self.workers.values()):
            if now < self._heartbeat_due(handle) or handle.killed:
                continue
            silent = now - (handle.last_beat or handle.started)
            self.logger.alert(f"Watchdog: worker #{handle.index} (pid {handle.pid}) sent no heartbeat for "
                              f"{silent:.1f}s: killing it; a new worker takes over its sockets and their queue")
            handle.killed = True
            self._kill(handle.pid, signal.SIGKILL)

    def request_reload(self) -> None:
        """The master CLI's ``reload``: handled in the loop, like SIGUSR2."""
        self.signal(signal.SIGUSR2, None)

    # Workers.

    def spawn_worker(self, index: int) -> None:
        spec = self.make_spec(index)
        handoff_master, spec.handoff = handoff.channel_pair()
        master_end, worker_end = socket.socketpair()
        spec.control = ControlAgent(worker_end, self.generation.library, self.generation.engine.pattern_updates,
                                    spec.context, self.generation.engine.server_updates,
                                    proc_vars.cli_setter(self.generation.registry, self.generation.library))
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            worker_end.close()
            spec.handoff.close()
            handle = WorkerHandle(pid, index, self.number, time.monotonic(), Link(master_end), time.time(),
                                  handoff=handoff_master)
            self.workers[pid] = handle
            self.logger.notice(f"New worker ({pid}) forked")
            self.selector.register(handle.link.sock, selectors.EVENT_READ, functools.partial(self._on_link, handle))
            return
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        master_end.close()
        handoff_master.close()
        self._close_master_files()
        self._close_other_slots(spec.sockets)
        Worker(spec).run()

    def _close_other_slots(self, own: list[Any]) -> None:
        """In a new worker: close the listening sockets of the other worker slots (inherited, never used), so
        that a socket the master closes (Proxy:stop()) is closed everywhere once its own worker closes it."""
        keep = {id(bound.sock) for bound in own}
        for item in self.listening:
            for sock in item.sockets:
                if id(sock) not in keep:
                    sock.close()

    def _close_master_files(self) -> None:
        """In a new worker: close what only the master uses (pipe, selector, other workers' links, clients)."""
        os.close(self.pipe_r)
        os.close(self.pipe_w)
        for handle in self.workers.values():
            handle.link.sock.close()
            if handle.handoff is not None:
                handle.handoff.close()
        for server in (self.stats_server, self.master_server):
            for sock in server.sockets():
                sock.close()
        for sock in self.retired_sockets:
            sock.close()
        if self.agent is not None:
            self.agent.link.sock.close()
        self.peers.close_links()
        self.resolvers.close()
        self.selector.close()

    def reap_workers(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            handle = self.workers.pop(pid, None)
            if handle is None:
                if self.peers.reaped(pid, status) or self.programs.reaped(pid, status):
                    continue
                if self.agent is not None and pid == self.agent.pid:
                    self.agent_exited(status)
                continue
            self._forget(handle)
            if handle.retiring or handle.generation < self.number:
                self.logger.warning(f"Former worker ({pid}) exited with code {_exit_text(status)}")
                continue
            self.retire_stats(handle)
            self.restarts.add(1)
            self._log_exit(pid, status)
            # Respawn at once: connections the kernel queued on the dead worker's socket wait until
            # then.  Only repeated quick exits (a crash loop) wait, 0.5 s, then twice as long each time.
            quick = time.monotonic() - handle.started < QUICK_EXIT_SECONDS
            delay = self.backoff.get(handle.index, 0.0) if quick else 0.0
            self.backoff[handle.index] = min(max(delay * 2, 0.5), RESPAWN_BACKOFF_MAX) if quick else 0.0
            self.next_spawn[handle.index] = time.monotonic() + delay

    def _forget(self, handle: WorkerHandle) -> None:
        """A worker is gone: read what it sent last, close its link, stop waiting for it."""
        if not handle.link.closed:
            while (messages := handle.link.receive()) is not None and messages:
                for message in messages:
                    self.on_message(handle, message)
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(handle.link.sock)
            handle.link.close()
        self.retire_deadlines.pop(handle.pid, None)
        self.fanout.forget(handle.pid)
        if handle.handoff is not None:
            handle.handoff.close()
            handle.handoff = None
        self.reclaim_tables(handle.pid)

    def reclaim_tables(self, pid: int) -> None:
        """A worker is gone: what it still tracked (conn_cur, references) is given back in every table."""
        for name, table in self.generation.tables.tables.items():
            released = table.reclaim(pid)
            if released:
                self.logger.notice(f"stick-table {name}: released {released} entries tracked by worker {pid}")

    def _log_exit(self, pid: int, status: int) -> None:
        """haproxy's words: an alert unless the worker ended cleanly (exit 0)."""
        text = f"Current worker ({pid}) exited with code {_exit_text(status)}"
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            self.logger.warning(text)
        else:
            self.logger.alert(text)

    def manage_workers(self) -> None:
        running = {h.index for h in self.workers.values() if h.generation == self.number}
        now = time.monotonic()
        if self.fleet is not None and self.agent is None and self.next_agent_spawn <= now:
            self.spawn_agent()
        if self.peers.spawn_due(self._in_agent) and not self.workers and not self.peers.await_learnt():
            self.logger.notice("peers: no peer taught the stick tables within 1 s; serving with what we have")
        for index in range(1, self.nbproc + 1):
            if index not in running and self.next_spawn.get(index, 0.0) <= now:
                self.spawn_worker(index)

    def live_workers(self) -> list[WorkerHandle]:
        """The workers of the current generation: they get every change."""
        return sorted((h for h in self.workers.values() if h.generation == self.number and not h.link.closed),
                      key=lambda h: h.index)

    def stop(self, sig: int, timeout: float | None = STOP_TIMEOUT, exit_code: int = 0) -> int:
        """Signal every worker, wait for them (bounded; a soft stop without hard-stop-after waits), then kill."""
        self.notify("STOPPING=1", "STATUS=Stopping.")
        self.logger.warning("Exiting Master process...")
        self.close_servers()
        agent, self.fleet = self.agent, None
        if agent is not None:
            self._kill(agent.pid, signal.SIGTERM)
        self.programs.stop()
        peers_pids = self.peers.pids()
        self.peers.sections = []
        self.peers.stop()
        for pid in list(self.workers):
            self._kill(pid, sig)
        deadline = None if timeout is None and sig == signal.SIGUSR1 else time.monotonic() + (timeout or STOP_TIMEOUT)
        while self.workers and (deadline is None or time.monotonic() < deadline):
            if sig == signal.SIGUSR1 and any(s in self.signal_queue for s in (signal.SIGTERM, signal.SIGINT)):
                for pid in list(self.workers):
                    self._kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + STOP_TIMEOUT
                sig = signal.SIGTERM
            self.reap_quietly()
            time.sleep(0.05)
        for pid in list(self.workers):
            self._kill(pid, signal.SIGKILL)
        while self.workers:
            self.reap_quietly(block=True)
        for pid in ([agent.pid] if agent is not None else []) + peers_pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.logger.warning(f"All workers exited. Exiting... ({exit_code})")
        return exit_code

    def reap_quietly(self, block: bool = False) -> None:
        """While stopping: collect dead workers, say how each ended."""
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            self.workers.clear()
            return
        handle = self.workers.pop(pid, None)
        if handle is not None:
            handle.link.close()
            self._log_exit(pid, status)

    def close_servers(self) -> None:
        self.stats_server.close()
        self.master_server.close()

    def _kill(self, pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            handle = self.workers.pop(pid, None)
            if handle is not None:
                self._forget(handle)

    def notify(self, *lines: str) -> None:
        if self.systemd_mode:
            systemd.notify(*lines)

    # The control sockets.

    def _exchange(self, link: Link, mask: int) -> list[dict[str, Any]] | None:
        """Flush a writable link, read a readable one; None once the peer closed it (then it is unwatched)."""
        if mask & selectors.EVENT_WRITE:
            link.flush()
        if not mask & selectors.EVENT_READ:
            return []
        messages = link.receive()
        if messages is None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(link.sock)
        return messages

    def _on_link(self, handle: WorkerHandle, mask: int) -> None:
        messages = self._exchange(handle.link, mask)
        if messages is None:
            self.fanout.forget(handle.pid)
            return
        for message in messages:
            self.on_message(handle, message)
        self._watch(handle)

    def _watch(self, handle: WorkerHandle) -> None:
        """Wait for the link to be writable only while it has bytes queued."""
        link = handle.link
        if link.closed:
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if link.outbox else 0)
        if events != handle.events:
            self.selector.modify(link.sock, events, functools.partial(self._on_link, handle))
            handle.events = events

    def _send(self, handle: WorkerHandle, message: dict[str, Any]) -> None:
        handle.link.send(message)
        self._watch(handle)

    def on_message(self, handle: WorkerHandle, message: dict[str, Any]) -> None:
        kind = message.get("t")
        if kind == "beat":
            handle.last_beat = time.monotonic()
        elif kind == "ready":
            handle.ready = True
            handle.last_beat = time.monotonic()
        elif kind in ("ack", "stats"):
            payload = message.get("data") if kind == "stats" else message.get("result")
            self.fanout.reply(handle.pid, message.get("seq", 0), payload, message.get("error"))
        elif kind == "publish":
            self.on_publish(handle, PatternChange.from_wire(message["change"]))
        elif kind == "publish-runtime":
            self.on_publish_runtime(handle, runtime_changes.from_wire(message["change"]))
        elif kind == "broadcast":
            for other in self.live_workers():
                if other is not handle:
                    self._send(other, message["message"])
        elif kind == "stats-all":
            seq = message.get("seq")
            self.peers.update_metrics(self.metrics)
            self.collect_stats().on_done(lambda snapshots: self._send(handle, {
                "t": "stats-all", "seq": seq, "data": [*snapshots, {"metrics": self.metrics.snapshot()}]}))

    def on_publish(self, origin: WorkerHandle, change: PatternChange) -> None:
        """A Lua change made in one worker: the master applies it, then every worker (the origin too, so
        that all end in the master's order)."""
        if origin.generation != self.number:
            return
        if self.fleet is not None and self.fleet.submit(change, "lua") is not None:
            return
        try:
            self.store.apply(change)
        except SampleError as exc:
            self.logger.warning(f"{origin.label}: {change.op} {change.target}: {exc}")
            return
        except OSError as exc:
            self.logger.alert(f"map-persist: cannot write {change.target}: {exc.strerror}")
        self.map_updates.add(1, {"kind": change.kind, "source": "lua"})
        for handle in self.live_workers():
            self._send(handle, {"t": "change", "seq": 0, "change": change.to_wire()})

    def on_publish_runtime(self, origin: WorkerHandle, change: runtime_changes.Change) -> None:
        """A server change made by Lua in one worker: the master applies it, then every worker."""
        if origin.generation != self.number:
            return
        try:
            self.runtime.apply(change)
        except ServerChangeError as exc:
            self.logger.warning(f"{origin.label}: {exc}")
            return
        self._release_stopped()
        for handle in self.live_workers():
            self._send(handle, {"t": "runtime", "seq": 0, "change": runtime_changes.to_wire(change), "logged": True})

    # What the management commands need (management.commands.Supervisor).

    def proxies(self) -> list[Any]:
        """The master's proxies: the authoritative server and frontend state."""
        return self.generation.proxies

    def spread_runtime(self, change: runtime_changes.Change) -> Pending:
        """A server or frontend change: in the master, then in every live worker; resolves to its reply text."""
        try:
            text = self.runtime.apply(change)
        except ServerChangeError as exc:
            return Pending.resolved(f"{exc}\n")
        self._release_stopped()
        reply = f"{text}\n" if text else ""
        message = {"t": "runtime", "change": runtime_changes.to_wire(change)}
        return self.ask_workers(message).then(lambda outcome: reply + outcome.problems())

    def _release_stopped(self) -> None:
        """Close the listening sockets of frontends Lua stopped (Proxy:stop()): the port is free again and
        workers forked from now on do not get them (the list is the one the worker specs read)."""
        stopped = [item for item in self.listening if item.frontend.stopped]
        for item in stopped:
            item.close()
        if stopped:
            self.listening[:] = [item for item in self.listening if not item.frontend.stopped]

    def ask_workers(self, message: dict[str, Any], timeout: float = ACK_TIMEOUT) -> Pending:
        """Send *message* to every live worker; resolves to the Outcome once all answered (or *timeout*)."""
        pending = Pending()
        workers = self.live_workers()
        seq = self.fanout.start({h.pid: h.label for h in workers}, time.monotonic() + timeout, pending.resolve)
        for handle in workers:
            self._send(handle, {**message, "seq": seq})
        return pending


    def spread(self, change: PatternChange) -> Pending:
        """A management command's change: through the fleet when there is one, else here and now."""
        if self.fleet is not None:
            pending = self.fleet.submit(change, "cli")
            if pending is not None:
                return pending
        return self.apply_everywhere(change, "cli")

    def apply_everywhere(self, change: PatternChange, source: str) -> Pending:
        """Apply in the master, then in every live worker; resolves once all acknowledged or ACK_TIMEOUT."""
        return self.apply_many([(change, source)])[0]

    def apply_many(self, batch: list[tuple[PatternChange, str]]) -> list[Pending]:
        """Apply changes in order in the master, then send those that applied to every live worker in one
        message; each Pending resolves to (result, problems) once all acknowledged, or to an error text."""
        pendings: list[Pending] = []
        sent: list[tuple[PatternChange, Any, str, Pending]] = []
        for change, source in batch:
            problems = ""
            try:
                result = self.store.apply(change)
            except SampleError as exc:
                if source != "cli":
                    self.logger.warning(f"{source}: {change.op} {change.target}: {exc}")
                pendings.append(Pending.resolved(f"{exc}\n"))
                continue
            except OSError as exc:
                result = None
                problems = f"Not written to file: {exc.strerror}.\n"
            self.map_updates.add(1, {"kind": change.kind, "source": source})
            pendings.append(Pending())
            sent.append((change, result, problems, pendings[-1]))
        if not sent:
            return pendings
        workers = self.live_workers()

        def done(outcome: Outcome) -> None:
            for _, result, problems, pending in sent:
                pending.resolve((result, problems + outcome.problems()))

        seq = self.fanout.start({h.pid: h.label for h in workers}, time.monotonic() + ACK_TIMEOUT, done)
        if len(sent) == 1:
            message = {"t": "change", "seq": seq, "change": sent[0][0].to_wire()}
        else:
            message = {"t": "changes", "seq": seq, "changes": [change.to_wire() for change, *_ in sent]}
        for handle in workers:
            self._send(handle, message)
        return pendings

    # The fleet agent.

    def make_fleet(self) -> None:
        """The fleet link of the current configuration (none without ``fleet-sync``)."""
        config = self.generation.settings.fleet_sync
        if config is None:
            self.fleet = None
            return
        fleet_agent.preload()
        self.fleet = FleetSync(config.url, config.name, self.store, self._send_agent, self.apply_many,
                               self.logger, Counters.define(self.metrics))
        self.next_agent_spawn = 0.0

    def spawn_agent(self) -> None:
        fleet = self.fleet
        assert fleet is not None

        def child(link: socket.socket) -> NoReturn:
            self._in_agent()
            fleet_agent.run(link, fleet.url, fleet.fleet, fleet.node)

        pid, master_end = fork_with_link(child)
        self.agent = WorkerHandle(pid, 0, self.number, time.monotonic(), Link(master_end), time.time())
        self.selector.register(master_end, selectors.EVENT_READ, self._on_agent_link)

    def _in_agent(self) -> None:
        """In a new agent (fleet or peers): default signals, nothing of the master's kept open."""
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        self._close_master_files()
        for item in self.listening:
            item.close()

    def stop_agent(self) -> None:
        """A reload changed or removed ``fleet-sync``: end the agent (reaped by the loop)."""
        agent, self.agent = self.agent, None
        if agent is not None:
            self._drop_agent_link(agent)
            self._kill(agent.pid, signal.SIGTERM)

    def agent_exited(self, status: int) -> None:
        agent, self.agent = self.agent, None
        assert agent is not None
        self._drop_agent_link(agent)
        code = os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        self.logger.alert(f"fleet agent (pid {agent.pid}) exited ({'signal' if os.WIFSIGNALED(status) else 'status'} "
                          f"{code}); starting it again")
        quick = time.monotonic() - agent.started < QUICK_EXIT_SECONDS
        self.next_agent_spawn = time.monotonic() + (1.0 if quick else 0.0)
        if self.fleet is not None:
            self.fleet.lost("the fleet agent exited")

    def _drop_agent_link(self, agent: WorkerHandle) -> None:
        if not agent.link.closed:
            while (messages := agent.link.receive()) is not None and messages and self.fleet is not None:
                for message in messages:
                    self.fleet.on_agent(message)
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(agent.link.sock)
            agent.link.close()

    def _on_agent_link(self, mask: int) -> None:
        agent = self.agent
        if agent is None:
            return
        messages = self._exchange(agent.link, mask)
        if messages is None:
            return
        for message in messages:
            if self.fleet is not None:
                self.fleet.on_agent(message)
        self._watch_agent()

    def _send_agent(self, message: dict[str, Any]) -> None:
        """Changes made in one turn of the loop reach the agent in one write."""
        if self.agent is not None:
            self.agent.link.send(message, now=False)
            self._watch_agent()

    def _watch_agent(self) -> None:
        agent = self.agent
        if agent is None or agent.link.closed:
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if agent.link.outbox else 0)
        if events != agent.events:
            self.selector.modify(agent.link.sock, events, self._on_agent_link)
            agent.events = events

    def resolver_sections(self) -> dict[str, Any]:
        """The ``resolvers`` sections with the master's counters (``show resolvers``)."""
        return self.resolvers.sections

    def peers_status(self) -> list[dict[str, Any]]:
        return self.peers.status()

    def fleet_status(self) -> Pending:
        """``show fleet``: the link's state and every process's digest of its lists."""
        if self.fleet is None:
            return Pending.resolved("Fleet sync is off (see the global 'fleet-sync' keyword).\n")
        fleet = self.fleet
        pending = Pending()
        workers = self.live_workers()
        master_digest = changes.digest(self.store.library)

        def done(outcome: Outcome) -> None:
            digests = {"master": master_digest, **{label: outcome.replies[label] for label in
                                                   sorted(outcome.replies, key=_worker_order)}}
            pending.resolve(status_text(fleet.facts(), digests, outcome.problems()))

        seq = self.fanout.start({h.pid: h.label for h in workers}, time.monotonic() + STATS_TIMEOUT, done)
        for handle in workers:
            self._send(handle, {"t": "digest", "seq": seq})
        return pending

    def certificates(self) -> dict[str, Certificate]:
        return tls_runtime.certificates(self.generation.proxies)

    def crt_lists(self) -> dict[str, list[Any]]:
        return tls_runtime.crt_lists(self.generation.proxies)

    def default_users(self, crt_list: str, name: str, nth: int) -> list[str]:
        return tls_runtime.default_users(self.generation.proxies, crt_list, name, nth)

    def spread_certificate(self, name: str, cert: Certificate) -> Pending:
        """``commit ssl cert``: install in the master (new workers inherit it), then in every live worker."""
        return self.spread_tls(tls_runtime.cert_message(name, cert))

    def spread_tls(self, message: dict[str, Any]) -> Pending:
        """A TLS change (worker.tls.runtime.apply): in the master, then in every live worker; resolves to the
        problems text, '' when every worker applied it."""
        tls_runtime.apply(self.generation.proxies, message)
        pending = Pending()
        workers = self.live_workers()
        seq = self.fanout.start({h.pid: h.label for h in workers}, time.monotonic() + ACK_TIMEOUT,
                                lambda outcome: pending.resolve(outcome.problems()))
        for handle in workers:
            self._send(handle, {**message, "seq": seq})
        return pending

    def collect_stats(self) -> Pending:
        """Every live worker's snapshot, plus what dead workers of this generation had counted.

        The snapshot is taken after the call (never older), but collections are
        shared and spaced by STATS_INTERVAL: a client pipelining thousands of
        ``show stat`` costs each worker at most one snapshot per interval.
        """
        pending = Pending()
        self.stats_waiting.append(pending)
        self.start_stats_collection()
        return pending

    def stats_deadline(self) -> float | None:
        """When the loop must wake to start the collection that commands wait for."""
        return self.stats_next if self.stats_waiting and not self.stats_running else None

    def start_stats_collection(self) -> None:
        if self.stats_running or not self.stats_waiting or time.monotonic() < self.stats_next:
            return
        waiting, self.stats_waiting = self.stats_waiting, []
        self.stats_running = True
        started = time.monotonic()
        self.stats_next = started + STATS_INTERVAL
        workers = self.live_workers()

        def done(outcome: Outcome) -> None:
            self.stats_running = False
            # A large configuration makes snapshots slow: then space them more, so that
            # collections take at most about a fifth of a worker's time.
            ended = time.monotonic()
            # (A worker that did not answer in time must not hold every later command: at most 1 s.)
            self.stats_next = max(self.stats_next, ended + min(4 * (ended - started), 1.0))
            self.last_stats.update(outcome.replies)
            live = sorted(outcome.replies.values(), key=lambda s: s.get("index", 0))
            for pending in waiting:
                pending.resolve(live + self.retired_stats)

        seq = self.fanout.start({h.pid: h.label for h in workers}, time.monotonic() + STATS_TIMEOUT, done)
        for handle in workers:
            self._send(handle, {"t": "stats", "seq": seq})

    def retire_stats(self, handle: WorkerHandle) -> None:
        """A worker died: keep the counts it last reported, so no counter ever goes down.

        Every scrape passes through collect_stats, so whatever a scrape showed was
        recorded here; only counts made after the last scrape die with the worker.
        """
        snapshot = self.last_stats.pop(handle.label, None)
        if snapshot is not None:
            self.retired_stats.append(stats.retired(snapshot))

    def process_facts(self) -> dict[str, Any]:
        return {"version": VERSION, "nbproc": self.nbproc, "pid": os.getpid(), "started": self.started,
                "maxconn": self.generation.settings.maxconn,
                # haproxy counts one listener per bind address (not per process), its stats sockets among
                # them, and their connections among the jobs
                "listeners": sum(1 for i in self.listening if i.sockets) + len(self.stats_server.listeners),
                "cli_connections": len(self.stats_server.clients),
                "ulimit": resource.getrlimit(resource.RLIMIT_NOFILE)[0], "node": os.uname().nodename,
                "stopping": 0}

    def algorithms(self) -> dict[str, str]:
        return {p.name: algorithm_name(p.balancer) for p in self.generation.proxies}

    def maxconn(self) -> int:
        return self.generation.settings.maxconn

    def proc_table(self) -> str:
        current = [(h.pid, 0, h.born) for h in self.live_workers()]
        old = [(h.pid, self.number - h.generation, h.born) for h in sorted(self.workers.values(), key=lambda h: h.pid)
               if h.generation != self.number]
        return formats.proc_table((os.getpid(), self.reloads, self.failed_reloads, self.started), current, old,
                                  VERSION, programs=self.programs.rows())

    def knows_process(self, selector: str) -> bool:
        if selector.startswith("!"):
            return selector[1:].isdigit() and int(selector[1:]) in self.workers
        return selector.isdigit() and any(h.index == int(selector) for h in self.live_workers())


def _exit_text(status: int) -> str:
    """``143 (Terminated)``, ``0 (Exit)``: haproxy's exit code (128 + signal) and its meaning."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"{128 + sig} ({signal.strsignal(sig) or sig})"
    return f"{os.WEXITSTATUS(status)} (Exit)"


def _worker_order(label: str) -> int:
    """'worker 2 (pid 123)' sorts by slot."""
    return int(label.split()[1])

