"""Where logs go: HAProxy's ``log`` targets, its syslog layouts, and its stderr layouts.

A ``LogServer`` is one parsed ``log`` line (pure data: the address is resolved
when the configuration is read).  The ``Logger`` sends a line to any list of
them, each in its own layout, through plain non-blocking datagram sockets made
on first use in each process: a send never waits, needs no gevent hub (the
master logs too) and a failure is dropped, as HAProxy drops it.  Lua logs also
go to stderr in HAProxy's sender layout; system messages use its stderr layout.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
              "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
              "local5", "local6", "local7")
DEFAULT_MAXLEN = 1024
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SYSTEM_TAGS = {1: "ALERT", 4: "WARNING", 5: "NOTICE", 7: "DEBUG"}
_STREAMS = {"stdout": 1, "stderr": 2, "fd@1": 1, "fd@2": 2}
_INET_PREFIXES = ("udp@", "udp4@", "udp6@", "ipv4@", "ipv6@")
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PRINTABLE = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))


@dataclass(frozen=True, slots=True)
class LogServer:
    """One ``log`` line: where (an fd, a unix path or a resolved inet address), how and which levels."""

    target: str
    family: int
    address: int | str | tuple[object, ...]
    fmt: str = "rfc3164"
    facility: int = 16
    max_level: int = 7
    min_level: int = 0
    maxlen: int = DEFAULT_MAXLEN
    sample: tuple[frozenset[int], int] | None = None
    """``sample <ranges>:<size>``: of each run of *size* messages, only those at these positions (from 1)."""
    seen: list[int] = field(default_factory=lambda: [0], compare=False, hash=False)

    def sampled(self) -> bool:
        """Whether this message is one of the sampled ones (counts it)."""
        if self.sample is None:
            return True
        positions, size = self.sample
        self.seen[0] = self.seen[0] % size + 1
        return self.seen[0] in positions

    def frame(self, level: int, message: str, tag: str, hostname: str, now: float) -> bytes:
        """The datagram (or stdout line): header, message, cut to ``len``, then a newline."""
        level = max(level, self.min_level)
        header = _HEADERS[self.fmt](self.facility * 8 + level, level, tag, hostname, now)
        return (header + message).encode("utf-8", "replace")[: self.maxlen] + b"\n"


def parse_log_server(words: Sequence[str]) -> LogServer:
    """``<target> [len N] [format F] <facility> [<level> [<minlevel>]]``, worded as HAProxy's errors."""
    args = list(words)
    if len(args) < 2:
        raise ValueError("log : expects <address> and <facility>  as arguments")
    target = args.pop(0)
    family, address = _address(target)
    fmt, maxlen, sample = "rfc3164", DEFAULT_MAXLEN, None
    while len(args) > 1 and args[0] in ("len", "format", "sample"):
        name, value = args.pop(0), args.pop(0)
        if name == "sample":
            sample = _sample_spec(value)
            continue
        if name == "format" and value not in _HEADERS:
            raise ValueError(f"log : unknown log format '{value}'")
        if name == "len" and not (value.isdigit() and 80 <= int(value) <= 65535):
            raise ValueError(f"log : invalid log length '{value}', must be between 80 and 65535")
        if name == "format":
            fmt = value
        else:
            maxlen = int(value)
    if not args:
        raise ValueError("log : expects <address> and <facility>  as arguments")
    facility = args.pop(0)
    if facility not in FACILITIES:
        raise ValueError(f"log : unknown log facility '{facility}'")
    levels = [7, 0]
    for i, what in enumerate(("optional log level", "optional minimum log level")):
        if args:
            name = args.pop(0)
            if name not in LEVELS:
                raise ValueError(f"log : unknown {what} '{name}'")
            levels[i] = LEVELS.index(name)
    if args:
        raise ValueError(f"log : cannot handle unexpected argument '{args[0]}'")
    return LogServer(target, family, address, fmt, FACILITIES.index(facility), levels[0], levels[1], maxlen,
                     sample)


def _sample_spec(text: str) -> tuple[frozenset[int], int]:
    """``1,3-4:5`` → ({1, 3, 4}, 5): the positions kept of each run of 5 messages."""
    ranges, _, size_text = text.partition(":")
    if not size_text.isdigit() or int(size_text) < 1:
        raise ValueError(f"log : 'sample' expects '<ranges>:<size>', got '{text}'")
    positions: set[int] = set()
    for part in ranges.split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(f"log : invalid sample range '{part}' in '{text}'")
        positions.update(range(int(low), int(high or low) + 1))
    if max(positions) > int(size_text):
        raise ValueError(f"log : sample ranges of '{text}' go past its size")
    return frozenset(positions), int(size_text)


def _address(target: str) -> tuple[int, int | str | tuple[object, ...]]:
    """(family, address): family 0 is a file descriptor; inet names are resolved now, never at send time."""
    if target in _STREAMS:
        return 0, _STREAMS[target]
    if target.startswith("unix@"):
        target = target[5:]
    if target.startswith("/"):
        return socket.AF_UNIX, target
    bare = next((target[len(p):] for p in _INET_PREFIXES if target.startswith(p)), target)
    bare = _ENV_REFERENCE.sub(lambda m: os.environ.get(m.group(1), ""), bare)  # as haproxy expands addresses
    host, port = bare, "514"
    if bare.startswith("["):
        host, _, rest = bare[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else port
    elif bare.count(":") == 1:
        host, port = bare.split(":")
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(host or "0.0.0.0", int(port or 0),
                                                       type=socket.SOCK_DGRAM)[0]
    except (OSError, ValueError, UnicodeError):
        raise ValueError(f"log : invalid address: '{host}' in '{target}'") from None
    return family, sockaddr


_SYSLOG_PID: list[int] = []


def report_pid(pid: int) -> None:
    """The PID syslog headers carry from now on (and in forked workers): haproxy without -W is one
    process, so the master's PID stands for every worker there."""
    _SYSLOG_PID[:] = [pid]


def _pid() -> int:
    return _SYSLOG_PID[0] if _SYSLOG_PID else os.getpid()


def _rfc3164(pri: int, level: int, tag: str, hostname: str, now: float) -> str:
    t = time.localtime(now)
    host = f"{hostname} " if hostname else ""
    return f"<{pri}>{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} " \
           f"{host}{tag}[{_pid()}]: "


def _iso(now: float) -> str:
    t = time.localtime(now)
    offset = t.tm_gmtoff
    sign = "+" if offset >= 0 else "-"
    zone = f"{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(now * 1_000_000) % 1_000_000:06d}{zone}"


def _rfc5424(pri: int, level: int, tag: str, hostname: str, now: float) -> str:
    return f"<{pri}>1 {_iso(now)} {hostname or '-'} {tag} {_pid()} - - "


_HEADERS: dict[str, Callable[[int, int, str, str, float], str]] = {
    "rfc3164": _rfc3164,
    "local": lambda pri, level, tag, hostname, now: _rfc3164(pri, level, tag, "", now),
    "rfc5424": _rfc5424,
    "priority": lambda pri, level, tag, hostname, now: f"<{pri}>",
    "short": lambda pri, level, tag, hostname, now: f"<{level}>",
    "timed": lambda pri, level, tag, hostname, now: f"<{level}>{_iso(now)} ",
    "iso": lambda pri, level, tag, hostname, now: f"{_iso(now)} ",
    "raw": lambda pri, level, tag, hostname, now: "",
}


class _Sink:
    """Where one LogServer's bytes go in this process: a file descriptor or a datagram socket."""

    __slots__ = ("address", "fd", "sock")

    def __init__(self, server: LogServer) -> None:
        self.address = server.address
        self.fd = server.address if isinstance(server.address, int) else -1
        self.sock: socket.socket | None = None
        if self.fd < 0:
            with contextlib.suppress(OSError):
                self.sock = socket.socket(server.family, socket.SOCK_DGRAM)
                self.sock.setblocking(False)

    def send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            if self.sock is not None:
                self.sock.sendto(data, self.address)
            elif self.fd >= 0:
                os.write(self.fd, data)


def printable(message: str) -> str:
    """Lua log text as HAProxy sends it: every byte outside printable ASCII becomes '.'."""
    if message.isascii() and message.isprintable():
        return message
    return message.encode("utf-8", "replace").translate(_PRINTABLE).decode("ascii")


@dataclass(slots=True)
class Logger:
    """Logs of one process: the global loggers, the Lua log options, the stderr messages.

    Until ``configure`` runs (the Lua body context), Lua logs go to stderr only,
    as HAProxy's do while it starts.
    """

    quiet: bool = False
    debug: bool = False
    servers: tuple[LogServer, ...] = ()
    tag: str = "haproxy"
    hostname: str = ""
    lua_to_loggers: bool = True
    lua_stderr: str = "auto"
    starting: bool = True
    foreground: bool = False
    """Not daemonized: as haproxy 2.6 does, Lua's log lines are also copied to stderr (``auto``)."""
    _sinks: dict[LogServer, _Sink] = field(default_factory=dict, init=False, repr=False)

    def configure(self, servers: Sequence[LogServer], tag: str = "haproxy", hostname: str = "",
                  lua_to_loggers: bool = True, lua_stderr: str = "auto") -> None:
        """The global ``log`` lines and Lua log options (tune.lua.log.loggers / .stderr)."""
        self.servers = tuple(servers)
        self.tag, self.hostname = tag, hostname
        self.lua_to_loggers, self.lua_stderr = lua_to_loggers, lua_stderr
        self.starting = False

    def log(self, level: int, message: str, loggers: Sequence[LogServer] = ()) -> None:
        """A Lua log line: to *loggers* (the global ones when empty), and to stderr as configured.

        ``tune.lua.log.stderr auto`` (the default) copies it to stderr when no
        logger took it or when running in the foreground, as haproxy 2.6 does;
        ``on`` always does.
        """
        level = min(max(int(level), 0), 7)
        text = printable(message)
        targets = () if self.starting else (loggers or self.servers)
        if self.lua_to_loggers:
            self.send(targets, level, text)
        if self._lua_on_stderr(level, bool(targets) and self.lua_to_loggers):
            t = time.localtime()
            _write(2, f"[{LEVELS[level]}] {t.tm_yday - 1:03d}/{t.tm_hour:02d}{t.tm_min:02d}{t.tm_sec:02d} "
                      f"({os.getpid()}) : {text}\n")

    def _lua_on_stderr(self, level: int, logged: bool) -> bool:
        if level == 7 and not self.debug:
            return False
        if self.starting:
            return True
        if self.quiet or self.lua_stderr == "off":
            return False
        return self.lua_stderr == "on" or not logged or self.foreground

    def send(self, loggers: Sequence[LogServer], level: int, message: str, tag: str | None = None) -> None:
        """One line to each logger whose level range takes *level*; never blocks, never raises."""
        now = time.time()
        for server in loggers:
            if level <= server.max_level and server.sampled():
                sink = self._sinks.get(server)
                if sink is None:
                    sink = self._sinks[server] = _Sink(server)
                sink.send(server.frame(level, message, tag or self.tag, self.hostname, now))

    def system(self, level: int, message: str) -> None:
        """A message about luaproxy itself, to stderr as HAProxy prints them."""
        if self.quiet and level > 3:
            return
        tag = f"[{_SYSTEM_TAGS.get(level, LEVELS[level].upper())}]"
        _write(2, f"{tag:<10} ({os.getpid()}) : {message}\n")

    def alert(self, message: str) -> None:
        self.system(1, message)

    def warning(self, message: str) -> None:
        self.system(4, message)

    def notice(self, message: str) -> None:
        self.system(5, message)

    def email(self, alert: Any, level: int, message: str) -> None:
        """A server event mailed through *alert* (worker.backend.mailers.EmailAlert): only a logger that
        reports has this; the quiet ones, used where another process reports, drop it with the rest."""
        alert.send(level, message)


def _write(fd: int, text: str) -> None:
    """One write per line, so lines from several processes never interleave."""
    with contextlib.suppress(OSError):
        os.write(fd, text.encode("utf-8", "replace"))
