"""The PID file (-p / pidfile): written at start, removed at exit."""

from __future__ import annotations

import os


def write(path: str, pid: int) -> None:
    tmp = f"{path}.tmp{pid}"
    with open(tmp, "w") as f:
        f.write(f"{pid}\n")
    os.replace(tmp, path)


def remove(path: str, pid: int) -> None:
    """Remove the file only if it still names us (a newer instance may own it)."""
    try:
        with open(path) as f:
            if f.read().strip() != str(pid):
                return
        os.unlink(path)
    except OSError:
        pass
