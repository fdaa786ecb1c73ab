"""Addresses as HAProxy writes them: ``host:port``, ``[v6]:port``, ``*:port``, ``:port``, ``fd@N``."""

from __future__ import annotations

import os
import re

from luaproxy.worker.netutil import is_ip_literal


def unix_path(text: str) -> str | None:
    """The path of a UNIX socket address (``/path`` or ``unix@path``; ``abns@name``, a Linux abstract
    socket, is its name after a NUL byte), else None."""
    if text.startswith("unix@"):
        return text[5:]
    if text.startswith("abns@"):
        return "\0" + text[5:]
    return text if text.startswith("/") else None


_ENV = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand_env(text: str) -> str:
    """``$VAR`` and ``${VAR}`` in an address, quoted or not (unset: empty), as haproxy's address parser does."""
    return _ENV.sub(lambda m: os.environ.get(m.group(1) or m.group(2), ""), text)


def split_host_port(text: str, need_port: bool = True) -> tuple[str, int | None]:
    """(host, port); host is '' for any address.  Raises ValueError with a readable reason."""
    text = expand_env(text)
    host, port = text, ""
    for prefix in ("ipv4@", "ipv6@"):
        if host.startswith(prefix):
            host = host[len(prefix):]
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise ValueError(f"missing ']' in address '{text}'")
        host, rest = host[1:end], host[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"unexpected '{rest}' after ']' in address '{text}'")
        port = rest[1:]
    elif host.count(":") == 1:
        host, port = host.split(":")
    elif host.count(":") > 1:
        host, _, port = host.rpartition(":")
    if host == "*":
        host = ""
    if host:
        _check_host(host, text)
    if not port:
        if need_port:
            raise ValueError(f"missing port in address '{text}'")
        return host, None
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"invalid port '{port}' in address '{text}' (expected 0-65535)")
    return host, int(port)


def _check_host(host: str, text: str) -> None:
    if is_ip_literal(host):
        return
    if not all(part and (part.replace("-", "").replace("_", "").isalnum()) for part in host.split(".")):
        raise ValueError(f"invalid address '{text}'")
