"""Servers with ``resolvers``: check their options and give them a first address (``init-addr``)."""

from __future__ import annotations

import socket
from typing import Any

from luaproxy.worker.netutil import is_ip_literal

from .config.errors import ConfigError, did_you_mean
from .config.model import Config, ServerConf

INIT_METHODS = ("last", "libc", "none")
RESOLVE_OPTS = ("allow-dup-ip", "ignore-weight", "prevent-dup-ip")


def attach(config: Config, proxies: list[Any]) -> list[ConfigError]:
    """Set fqdn, resolvers and first address of each server that names a resolvers section."""
    errors: list[ConfigError] = []
    for conf, proxy in zip(config.proxies, proxies, strict=True):
        if not conf.has_backend:
            continue
        for server_conf, server in zip(conf.servers, proxy.servers, strict=False):
            try:
                _attach_server(config, proxy, server_conf, server)
            except ConfigError as exc:
                errors.append(exc)
    return errors


def _attach_server(config: Config, proxy: Any, conf: ServerConf, server: Any) -> None:
    name = conf.options.get("resolvers")
    prefer = conf.options.get("resolve-prefer", "ipv6")
    if prefer not in ("ipv4", "ipv6"):
        raise conf.line.error(f"server '{conf.name}': 'resolve-prefer' expects 'ipv4' or 'ipv6', got '{prefer}'.")
    unknown = [o for o in conf.options.get("resolve-opts", "").split(",") if o and o not in RESOLVE_OPTS]
    if unknown:
        raise conf.line.error(f"server '{conf.name}': 'resolve-opts' got unknown option '{unknown[0]}'.",
                              f"Expected: {', '.join(RESOLVE_OPTS)}.")
    methods = conf.options.get("init-addr", "last,libc").split(",")
    bad = [m for m in methods if m not in INIT_METHODS and not is_ip_literal(m)]
    if bad:
        raise conf.line.error(f"server '{conf.name}': 'init-addr' got unknown method '{bad[0]}'.",
                              "Use a comma-separated list of last, libc, none or an IP address.")
    if name is None:
        return
    if name not in config.resolvers:
        raise conf.line.error(f"server '{conf.name}': no resolvers section named '{name}'.",
                              did_you_mean(name, config.resolvers))
    if is_ip_literal(conf.host) or conf.host in ("", "0.0.0.0"):
        return  # an address needs no resolution (haproxy resolves names only)
    server.fqdn, server.resolvers, server.resolve_prefer = conf.host, name, prefer
    server.resolve_opts = tuple(o for o in conf.options.get("resolve-opts", "").split(",") if o)
    address = first_address(conf.host, methods, prefer)
    if address is None:
        if "none" not in methods:
            config.warnings.append(f"{conf.line.file}:{conf.line.number}: 'server {proxy.name}/{conf.name}' : "
                                   f"could not resolve address '{conf.host}', disabling server.")
        server.host, server.dns_maint, server.admin_state = "", "none", "MAINT"
    else:
        server.host = address


def first_address(host: str, methods: list[str], prefer: str) -> str | None:
    """The first of *methods* that gives an address (``last`` needs a state file: none here)."""
    for method in methods:
        if method == "libc":
            address = _libc(host, prefer)
            if address is not None:
                return address
        elif is_ip_literal(method):
            return method
    return None


def _libc(host: str, prefer: str) -> str | None:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return None
    wanted = socket.AF_INET6 if prefer == "ipv6" else socket.AF_INET
    addresses = [info[4][0] for info in infos if info[0] == wanted] + [info[4][0] for info in infos]
    return addresses[0] if addresses else None
