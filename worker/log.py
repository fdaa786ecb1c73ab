"""Where luaproxy's own messages and Lua's logs go.

System messages use HAProxy's stderr layout (``[ALERT]    (pid) : text``); Lua
logs use its sender layout (``[info] 325/042218 (pid) : text``) on stdout or
stderr targets.  Syslog targets belong to the observability issue.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_SYSTEM_TAGS = {1: "ALERT", 4: "WARNING", 5: "NOTICE", 7: "DEBUG"}


@dataclass(slots=True)
class StreamTarget:
    stream_name: str
    max_level: int = 7

    @property
    def stream(self) -> TextIO:
        return sys.stdout if self.stream_name == "stdout" else sys.stderr


@dataclass(slots=True)
class Logger:
    """Logs of one process; the targets come from the global ``log`` lines."""

    targets: list[StreamTarget] = field(default_factory=list)
    quiet: bool = False

    def log(self, level: int, message: str) -> None:
        """A Lua or traffic log line at *level* (0 emerg .. 7 debug)."""
        level = min(max(int(level), 0), 7)
        stamp = time.strftime("%j/%H%M%S")
        text = f"[{LEVELS[level]}] {stamp} ({os.getpid()}) : {message}\n"
        targets = self.targets or ([] if self.quiet else [StreamTarget("stderr")])
        for target in targets:
            if level <= target.max_level:
                _write(target.stream, text)

    def system(self, level: int, message: str) -> None:
        """A message about luaproxy itself, to stderr as HAProxy prints them."""
        if self.quiet and level > 3:
            return
        tag = f"[{_SYSTEM_TAGS.get(level, LEVELS[level].upper())}]"
        _write(sys.stderr, f"{tag:<10} ({os.getpid()}) : {message}\n")

    def alert(self, message: str) -> None:
        self.system(1, message)

    def warning(self, message: str) -> None:
        self.system(4, message)

    def notice(self, message: str) -> None:
        self.system(5, message)


def _write(stream: TextIO, text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass
