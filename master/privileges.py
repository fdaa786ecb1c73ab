"""chroot, setgid and setuid: what a worker gives up once the master has bound every listener.

As haproxy does in master-worker mode, the master keeps its root directory and
identity (it re-reads the configuration and binds new sockets on reload);
each worker drops them right after the fork, before serving anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .config.model import GlobalSettings


@dataclass(frozen=True, slots=True)
class Privileges:
    chroot: str | None = None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def of(cls, settings: GlobalSettings) -> Privileges:
        return cls(settings.chroot, settings.uid, settings.gid)

    def apply(self) -> None:
        """Chroot first (it needs root), then the group, then the user; an error ends the worker."""
        if self.chroot:
            os.chroot(self.chroot)
            os.chdir("/")
        if self.gid is not None:
            os.setgroups([])
            os.setgid(self.gid)
        if self.uid is not None:
            os.setuid(self.uid)
