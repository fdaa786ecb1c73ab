"""Where the management sockets listen: ``stats socket`` lines and ``-S``, parsed without I/O."""

from __future__ import annotations

import grp
import pwd
from dataclasses import dataclass

from .commands import ADMIN, LEVEL_NAMES, OPERATOR


class AddressError(ValueError):
    """A ``stats socket`` or ``-S`` argument we cannot use; the text says why."""


@dataclass(frozen=True, slots=True)
class SocketSpec:
    family: str  # "unix", "inet", "inet6" or "fd"
    path: str = ""  # unix socket path
    host: str = ""
    port: int = 0
    fd: int = -1
    mode: int | None = None
    level: int = OPERATOR
    uid: int | None = None
    gid: int | None = None

    @property
    def label(self) -> str:
        if self.family == "unix":
            return self.path
        if self.family == "fd":
            return f"fd@{self.fd}"
        return f"{self.host}:{self.port}"


def parse(words: list[str], default_level: int = OPERATOR) -> SocketSpec:
    """``<address> [mode 600] [level user|operator|admin] [user U] [group G]``."""
    if not words:
        raise AddressError("'stats socket' expects an address (path, ipv4@ADDR:PORT or fd@N)")
    fields: dict[str, object] = {**_address(words[0]), "level": default_level}
    options = words[1:]
    for i in range(0, len(options), 2):
        name = options[i]
        if i + 1 >= len(options):
            raise AddressError(f"'{name}' expects an argument")
        value = options[i + 1]
        if name == "mode":
            try:
                fields["mode"] = int(value, 8)
            except ValueError:
                raise AddressError(f"'mode' expects an octal value, got '{value}'") from None
        elif name == "level":
            if value not in LEVEL_NAMES:
                raise AddressError("'level' only supports 'user', 'operator', and 'admin'")
            fields["level"] = LEVEL_NAMES.index(value)
        elif name in ("user", "uid"):
            fields["uid"] = _user_id(value)
        elif name in ("group", "gid"):
            fields["gid"] = _group_id(value)
        elif name not in ("expose-fd", "process", "maxconn", "name"):
            raise AddressError(f"unknown option '{name}' (expected mode, level, user or group)")
    return SocketSpec(**fields)  # type: ignore[arg-type]


def _address(text: str) -> dict[str, object]:
    if text.startswith("fd@"):
        try:
            return {"family": "fd", "fd": int(text[3:])}
        except ValueError:
            raise AddressError(f"invalid file descriptor in '{text}'") from None
    if text.startswith("unix@"):
        return {"family": "unix", "path": text[5:]}
    for prefix, family in (("ipv4@", "inet"), ("ipv6@", "inet6")):
        if text.startswith(prefix):
            return {"family": family, **_host_port(text[len(prefix):], text)}
    if text.startswith("/") or ":" not in text:
        return {"family": "unix", "path": text}
    host_port = _host_port(text, text)
    return {"family": "inet6" if ":" in str(host_port["host"]) else "inet", **host_port}


def _host_port(text: str, shown: str) -> dict[str, object]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise AddressError(f"missing or invalid port in '{shown}'")
    return {"host": host.strip("[]") or "0.0.0.0", "port": int(port)}


def _user_id(value: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        return pwd.getpwnam(value).pw_uid
    except KeyError:
        raise AddressError(f"unknown user '{value}'") from None


def _group_id(value: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        return grp.getgrnam(value).gr_gid
    except KeyError:
        raise AddressError(f"unknown group '{value}'") from None


def parse_flag(text: str) -> SocketSpec:
    """``-S <address>[,<option>,<value>...]``: the master CLI, at admin level unless told otherwise."""
    return parse(text.split(","), default_level=ADMIN)
