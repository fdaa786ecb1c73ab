"""The master's supervisor loop, after gunicorn's arbiter.

Signal handlers only queue the signal and wake the loop through a pipe; the
loop waits, dispatches ``handle_<signal>``, reaps dead workers, then spawns
what is missing.  The master never starts a gevent hub, so a fork copies an
idle process.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from luaproxy.worker.process import Worker, WorkerSpec

from . import systemd

SpecFactory = Callable[[int], WorkerSpec]
STOP_TIMEOUT = 5.0
RESPAWN_BACKOFF_MAX = 10.0
QUICK_EXIT_SECONDS = 1.0


@dataclass(slots=True)
class WorkerHandle:
    pid: int
    index: int
    started: float


class Arbiter:
    SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1,
               signal.SIGUSR2, signal.SIGCHLD)

    def __init__(self, make_spec: SpecFactory, nbproc: int, logger: object, hard_stop_after: float | None,
                 systemd_mode: bool = False) -> None:
        self.make_spec = make_spec
        self.nbproc = nbproc
        self.logger = logger
        self.hard_stop_after = hard_stop_after
        self.systemd_mode = systemd_mode
        self.workers: dict[int, WorkerHandle] = {}
        self.signal_queue: list[int] = []
        self.backoff: dict[int, float] = {}
        self.next_spawn: dict[int, float] = {}
        self.pipe_r, self.pipe_w = os.pipe()
        os.set_blocking(self.pipe_r, False)
        os.set_blocking(self.pipe_w, False)

    # Signals: record and wake, nothing more.

    def init_signals(self) -> None:
        for sig in self.SIGNALS:
            signal.signal(sig, self.signal)

    def signal(self, sig: int, frame: object) -> None:
        self.signal_queue.append(sig)
        with contextlib.suppress(OSError):
            os.write(self.pipe_w, b".")

    def sleep(self, timeout: float) -> None:
        try:
            ready, _, _ = select.select([self.pipe_r], [], [], timeout)
            if ready:
                while os.read(self.pipe_r, 1024):
                    pass
        except (OSError, InterruptedError) as exc:
            if getattr(exc, "errno", None) not in (errno.EAGAIN, errno.EINTR, None):
                raise

    # The loop.

    def run(self) -> int:
        self.init_signals()
        self.manage_workers()
        if self.systemd_mode:
            systemd.notify("READY=1", f"MAINPID={os.getpid()}", f"STATUS=Ready with {self.nbproc} worker(s).")
        while True:
            while self.signal_queue:
                sig = self.signal_queue.pop(0)
                handler = getattr(self, f"handle_{signal.Signals(sig).name[3:].lower()}")
                exit_code = handler()
                if exit_code is not None:
                    return exit_code
            self.reap_workers()
            self.manage_workers()
            self.sleep(1.0)

    def handle_chld(self) -> None:
        self.reap_workers()

    def handle_term(self) -> int:
        self.stop(signal.SIGTERM)
        return 0

    def handle_int(self) -> int:
        self.stop(signal.SIGTERM)
        return 130

    def handle_quit(self) -> int:
        self.stop(signal.SIGTERM)
        return 0

    def handle_usr1(self) -> int:
        """Soft stop: workers stop accepting and finish what they serve."""
        self.stop(signal.SIGUSR1, self.hard_stop_after)
        return 0

    def handle_hup(self) -> None:
        self.logger.warning("reload (SIGHUP/SIGUSR2) is not available yet; ignoring the signal")

    handle_usr2 = handle_hup

    # Workers.

    def spawn_worker(self, index: int) -> None:
        spec = self.make_spec(index)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            self.workers[pid] = WorkerHandle(pid, index, time.monotonic())
            return
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        os.close(self.pipe_r)
        os.close(self.pipe_w)
        Worker(spec).run()

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
                continue
            self._log_exit(handle, status)
            quick = time.monotonic() - handle.started < QUICK_EXIT_SECONDS
            delay = min(self.backoff.get(handle.index, 0.5) * 2, RESPAWN_BACKOFF_MAX) if quick else 0.0
            self.backoff[handle.index] = delay or 0.5
            self.next_spawn[handle.index] = time.monotonic() + delay

    def _log_exit(self, handle: WorkerHandle, status: int) -> None:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            why = f"killed by signal {sig}" + (" (perhaps out of memory?)" if sig == signal.SIGKILL else "")
        else:
            why = f"exit status {os.WEXITSTATUS(status)}"
        self.logger.alert(f"Current worker #{handle.index} (pid {handle.pid}) exited with {why}")

    def manage_workers(self) -> None:
        running = {h.index for h in self.workers.values()}
        now = time.monotonic()
        for index in range(1, self.nbproc + 1):
            if index not in running and self.next_spawn.get(index, 0.0) <= now:
                self.spawn_worker(index)

    def stop(self, sig: int, timeout: float | None = STOP_TIMEOUT) -> None:
        """Signal every worker, wait for them (bounded), then kill what is left."""
        if self.systemd_mode:
            systemd.notify("STOPPING=1")
        for pid in list(self.workers):
            self._kill(pid, sig)
        deadline = time.monotonic() + (timeout if timeout is not None else STOP_TIMEOUT)
        while self.workers and time.monotonic() < deadline:
            self.reap_quietly()
            time.sleep(0.05)
        for pid in list(self.workers):
            self._kill(pid, signal.SIGKILL)
        while self.workers:
            self.reap_quietly(block=True)

    def reap_quietly(self, block: bool = False) -> None:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            self.workers.clear()
            return
        self.workers.pop(pid, None)

    def _kill(self, pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            self.workers.pop(pid, None)
