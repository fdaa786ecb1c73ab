"""The master's ``program`` processes: started with the master, stopped with it, renewed on reload.

Each program runs as a child of the master (as haproxy runs them), is reaped
by the master's loop, and is listed by ``show proc`` under ``# programs``.
A program that exits is not restarted until the next reload, as in haproxy.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import signal
import time
from dataclasses import dataclass
from typing import Any

from luaproxy.worker.process import die_with_parent

from .config.programs import ProgramConf

EXEC_FAILED = 127
STOP_TIMEOUT = 3.0


@dataclass(slots=True)
class Running:
    conf: ProgramConf
    pid: int
    started: float
    reloads: int = 0


class Programs:
    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.running: dict[int, Running] = {}

    def start(self, confs: list[ProgramConf]) -> None:
        for conf in confs:
            self._spawn(conf)

    def reload(self, confs: list[ProgramConf]) -> None:
        """New instances of the programs that ask for one; the others keep running (one more reload)."""
        kept = {r.conf.name for r in self.running.values()}
        for pid, run in list(self.running.items()):
            if any(c.name == run.conf.name and not c.start_on_reload for c in confs):
                run.reloads += 1
                continue
            self._kill(pid, signal.SIGTERM)
            kept.discard(run.conf.name)
        for conf in confs:
            if conf.name not in kept:
                self._spawn(conf)

    def reaped(self, pid: int, status: int) -> bool:
        """Whether *pid* was one of ours (then it is forgotten and its end logged)."""
        run = self.running.pop(pid, None)
        if run is None:
            return False
        code = os.waitstatus_to_exitcode(status)
        self.logger.warning(f"Current program '{run.conf.name}' (pid {pid}) exited with code {code}")
        return True

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to every program, SIGKILL to those still there after *timeout*; all reaped."""
        pids = list(self.running)
        self.running.clear()
        for pid in pids:
            self._kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if not _reaped(pid)]
            time.sleep(0.02)
        for pid in pids:
            self._kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    def rows(self) -> list[tuple[int, str, int, float]]:
        """(pid, name, reloads, start time) of each running program, for ``show proc``."""
        return [(pid, r.conf.name, r.reloads, r.started) for pid, r in sorted(self.running.items())]

    def _spawn(self, conf: ProgramConf) -> None:
        ids = _ids(conf)
        master = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: become the command, never return into the master's code
            try:
                die_with_parent(master)  # a master killed outright takes its programs along
                os.setsid()
                if ids is not None:
                    os.setgid(ids[1])
                    os.setuid(ids[0])
                os.execvp(conf.command[0], conf.command)
            finally:
                os._exit(EXEC_FAILED)
        self.running[pid] = Running(conf, pid, time.time())
        self.logger.notice(f"New program '{conf.name}' ({pid}) forked")

    def _kill(self, pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _ids(conf: ProgramConf) -> tuple[int, int] | None:
    """(uid, gid) of ``user``/``group``, or None to keep the master's."""
    if conf.user is None and conf.group is None:
        return None
    user = pwd.getpwnam(conf.user) if conf.user else pwd.getpwuid(os.getuid())
    gid = grp.getgrnam(conf.group).gr_gid if conf.group else user.pw_gid
    return user.pw_uid, gid


def _reaped(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True  # already collected (the master's loop reaps any child)
