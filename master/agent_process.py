"""The master's helper processes (the fleet agent, one peers agent per section).

Each is forked with a socket pair to the master, patched for gevent in the
child, says on stderr why it died, and never returns: the master reaps it and
starts it again.
"""

from __future__ import annotations

import os
import socket
import sys
import warnings
from collections.abc import Callable
from typing import NoReturn

from setproctitle import setproctitle


def fork_with_link(child: Callable[[socket.socket], NoReturn]) -> tuple[int, socket.socket]:
    """Fork; the child runs *child* with its end of a new socket pair, the parent gets (pid, its end)."""
    master_end, agent_end = socket.socketpair()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        agent_end.close()
        return pid, master_end
    master_end.close()
    child(agent_end)


def run_patched(title: str, label: str, main: Callable[[], None]) -> NoReturn:
    """In the forked child: patch the standard library for gevent, run *main*, exit with its outcome."""
    setproctitle(title)
    code = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ssl was imported before the fork; redis-py looks it up late
            from gevent import monkey

            for patch in (monkey.patch_socket, monkey.patch_ssl, monkey.patch_select, monkey.patch_time):
                patch()
        main()
    except BaseException as exc:  # the master starts it again; say why it died
        print(f"{label} failed: {exc!r}", file=sys.stderr)
        code = 1
    finally:
        sys.stderr.flush()
    os._exit(code)
