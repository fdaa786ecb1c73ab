"""Addresses as HAProxy writes them: ``host:port``, ``[v6]:port``, ``*:port``, ``:port``, ``fd@N``."""

from __future__ import annotations

import ipaddress
import os
import re

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str) -> str:
    """``${NAME}`` in an address, from the environment, quoted or not: haproxy expands addresses itself
    (an unset variable is empty)."""
    return _ENV.sub(lambda m: os.environ.get(m.group(1), ""), text) if "${" in text else text


def unix_path(text: str) -> str | None:
    """The path of a UNIX socket address (``/path`` or ``unix@path``), else None."""
    if text.startswith("unix@"):
        return text[5:]
    return text if text.startswith("/") else None


def split_host_port(text: str, need_port: bool = True) -> tuple[str, int | None]:
    """(host, port); host is '' for any address.  Raises ValueError with a readable reason."""
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
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not all(part and (part.replace("-", "").replace("_", "").isalnum()) for part in host.split(".")):
        raise ValueError(f"invalid address '{text}'")
