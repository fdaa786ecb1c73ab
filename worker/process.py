"""A worker process: what runs after the master forks.

``WorkerSpec`` is built in the master before the fork and must not touch the
process; ``run`` starts after it: process title, gevent hub, signals,
listeners, Lua tasks, then the heartbeat loop that also notices a dead master.

The heartbeat goes to the master over the control socket: a worker that stops
sending it (stopped, or stuck in something that never yields) is killed by
the master's watchdog.  The kernel kills a worker whose master died
(``PR_SET_PDEATHSIG``), even one too busy to look.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

import gevent
from setproctitle import setproctitle

from .backend import HealthChecker
from .conn import inbound
from .context import WorkerContext
from .debug_trace import DebugTrace
from .handoff import adopt_loop
from .http.server_pool import ServerPool
from .http.stream import HttpStream
from .http2.choice import negotiated
from .listener import Listener
from .proxy import Proxy
from .tcp.stream import TcpStream
from .tls import handshake
from .txn import Addresses

HEARTBEAT_SECONDS = 0.5
PR_SET_PDEATHSIG = 1


def die_with_parent(ppid: int) -> None:
    """Ask the kernel for SIGKILL when the master dies; exit now if it already did."""
    try:
        # The process's own symbols, libc's among them: find_library("c") would run ldconfig in a subprocess,
        # whose fork made this worker copy ~0.6 MB of the pages it shares with the master.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the heartbeat loop's getppid() check remains
    if os.getppid() != ppid:
        os._exit(0)


@dataclass(slots=True)
class BoundSocket:
    """A listening socket the master opened, and the frontend it belongs to."""

    sock: socket.socket
    frontend: Proxy
    so_id: int


@dataclass(slots=True)
class WorkerSpec:
    index: int
    context: WorkerContext
    sockets: list[BoundSocket]
    maxconn: int = 4096
    start_tasks: Any = None
    ppid: int = field(default_factory=os.getpid)
    control: Any = None  # the ControlAgent: map/ACL changes and stats over the master's socketpair
    drop_privileges: Any = None  # chroot/setgid/setuid, applied once after the fork
    handoff: Any = None  # connections the master passes from a silent worker's sockets (master.handoff)


class _Silent:
    """Every worker runs the health checks; only the first one reports state changes."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class Worker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.alive = True
        self.listeners: list[Listener] = []
        self._listener_fds: dict[tuple[str, int], int] = {}
        self._listener_pools: dict[tuple[str, int], Any] = {}
        self.server_pool = ServerPool()

    def run(self) -> NoReturn:
        """Entry point in the child; never returns."""
        code = 0
        try:
            self.init_process()
            self.loop()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
        except BaseException as exc:  # a worker must never die silently
            self.spec.context.logger.alert(f"worker {self.spec.index} failed: {exc!r}")
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)

    def init_process(self) -> None:
        die_with_parent(self.spec.ppid)
        setproctitle(f"luaproxy: worker {self.spec.index}")
        gevent.reinit()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        gevent.signal_handler(signal.SIGTERM, self.handle_term)
        gevent.signal_handler(signal.SIGUSR1, self.handle_usr1)
        if self.spec.drop_privileges is not None:
            self.spec.drop_privileges()
        for bound in self.spec.sockets:
            listener = Listener(bound.sock, bound.frontend, bound.so_id, self.handle_connection,
                                self.spec.maxconn)
            listener.start()
            listener.pause(bound.frontend.paused)
            self.listeners.append(listener)
        self.spec.context.listeners = self.listeners
        if self.spec.handoff is not None:
            gevent.spawn(adopt_loop, self.spec.handoff, self.listeners)
        self._listener_fds = {(listener.frontend.name, listener.so_id): listener.socket.fileno()
                              for listener in self.listeners}
        self._listener_pools = {(listener.frontend.name, listener.so_id): listener.pool
                                for listener in self.listeners}
        if self.spec.context.logger.debug:
            self.spec.context.trace = DebugTrace()
        if self.spec.start_tasks is not None:
            self.spec.start_tasks()
        reporter = self.spec.context.logger if self.spec.index == 1 else _Silent()
        self.spec.context.health = HealthChecker(self.spec.context.all_proxies, reporter)
        self.spec.context.health.start()
        gevent.spawn(self.spec.context.run_rates)
        if self.spec.control is not None:
            self.spec.control.start()
        # Configuration, Lua state and registries live as long as the worker: keep them out of GC passes.
        gc.freeze()

    def handle_connection(self, frontend: Proxy, client: socket.socket, so_id: int,
                          addresses: Addresses | None = None) -> bool:
        """Serve one accepted connection; True when it lives on after this greenlet (a parked HTTP stream).
        *addresses* are the client's and local ones as accepted (None: asked of the socket when needed)."""
        header = None
        if so_id in frontend.accept_proxy:
            header = inbound.accept(client, frontend)
            if header is None:
                return False
        tls = frontend.tls_binds.get(so_id)
        if tls is not None:
            client = handshake.accept(tls, client, frontend, so_id, self.spec.context.logger,
                                      self.spec.context.new_vars)
            if client is None:
                return False
            if header is not None:
                inbound.attach(client, header)
        trace = self.spec.context.trace
        sid = self.spec.context.sessions.open(frontend, client)
        client_fd = -1
        if trace is not None:
            client_fd = client.fileno()
            trace.accept(frontend, client, self._listener_fds.get((frontend.name, so_id), 0))

        known = addresses if header is None and tls is None else None  # else the header's, or the TLS socket's
        if frontend.mode != "http":
            try:
                TcpStream(self.spec.context, frontend, client, so_id, known).serve()
            finally:
                self._session_closed(sid, client_fd, frontend.name)
            return False
        closed = functools.partial(self._session_closed, sid, client_fd, frontend.name)
        if so_id in frontend.h2_binds or negotiated(client):
            from .http2.session import H2Session  # imported on first use: worker.http2.choice says why

            return H2Session(self.spec.context, frontend, client, so_id, self.server_pool, closed).serve()
        try:
            stream = HttpStream(self.spec.context, frontend, client, so_id, self.server_pool,
                                self._listener_pools.get((frontend.name, so_id)), closed, known)
        except BaseException:
            closed()
            raise
        return stream.serve()  # calls closed() once the connection ends, here or in a later greenlet

    def _session_closed(self, sid: int, client_fd: int, frontend_name: str) -> None:
        """A connection ended: out of the session table (and the debug trace)."""
        self.spec.context.sessions.close(sid)
        trace = self.spec.context.trace
        if trace is not None:
            trace.close(client_fd, frontend_name)

    def loop(self) -> None:
        while self.alive:
            gevent.sleep(HEARTBEAT_SECONDS)
            if os.getppid() != self.spec.ppid:
                self.spec.context.logger.warning(f"worker {self.spec.index}: master is gone, exiting")
                return
            self.beat()
        self.drain()

    def beat(self) -> None:
        if self.spec.control is not None:
            self.spec.control.beat()

    def drain(self) -> None:
        """After a soft stop, wait for the running streams (the master bounds the wait)."""
        last_beat = time.monotonic()
        while any(len(listener.pool) for listener in self.listeners):
            gevent.sleep(0.1)
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                last_beat = time.monotonic()
                self.beat()

    def handle_term(self) -> None:
        """Hard stop: leave now, in-flight connections are cut."""
        os._exit(0)

    def handle_usr1(self) -> None:
        """Soft stop: stop accepting, let the running streams end."""
        for listener in self.listeners:
            listener.stop_accepting()
        context = self.spec.context
        for proxy in context.all_proxies:
            context.logger.warning(f"Proxy {proxy.name} stopped (cumulated conns: FE: {proxy.fe_counters.total}, "
                                   f"BE: {proxy.be_counters.total}).")
        context.soft_stop()
        self.alive = False
