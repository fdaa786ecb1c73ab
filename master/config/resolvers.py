"""``resolvers NAME`` sections: the nameservers and timings that servers' ``resolvers`` option and
``do-resolve`` actions use (worker.resolvers runs them).

As in haproxy 2.6, a section named ``default`` made from /etc/resolv.conf exists
unless the configuration declares one of its own (nothing uses it unless named).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path

from luaproxy.worker.netutil import is_ip_literal
from luaproxy.worker.resolvers import HOLD_STATUSES, Nameserver, ResolversSection

from .addresses import split_host_port
from .errors import ConfigError, did_you_mean
from .lexer import Line
from .units import parse_time

KEYWORDS = ("nameserver", "parse-resolv-conf", "accepted_payload_size", "resolve_retries", "timeout", "hold",
            "resolution_pool_size")
RESOLV_CONF = "/etc/resolv.conf"


def parse_section(header: Line, body: list[Line], errors: list[ConfigError],
                  warnings: list[str]) -> ResolversSection | None:
    """One ``resolvers`` section; errors go to *errors*."""
    if len(header.words) != 2:
        errors.append(header.error("'resolvers' expects exactly one name.", "Write 'resolvers <name>'."))
        return None
    section = ResolversSection(header.words[1])
    for line in body:
        try:
            _keyword(section, line, warnings)
        except ConfigError as exc:
            errors.append(exc)
    if not section.nameservers:
        warnings.append(f"{header.file}:{header.number}: resolvers '{section.name}' has no nameserver: "
                        "its resolutions will all time out.")
    return section


def _keyword(section: ResolversSection, line: Line, warnings: list[str]) -> None:
    word, args = line.words[0], line.words[1:]
    where = f"in 'resolvers' section '{section.name}'"
    if word == "nameserver":
        section.add_nameserver(_nameserver(section, line, args))
    elif word == "parse-resolv-conf":
        for ns in resolv_conf_nameservers():
            if ns.name not in section.stats:
                section.add_nameserver(ns)
    elif word == "accepted_payload_size":
        section.payload_size = _integer(line, args, 512, 65535)
    elif word == "resolve_retries":
        section.retries = _integer(line, args, 1, 1 << 30)
    elif word == "timeout":
        if len(args) != 2 or args[0] not in ("resolve", "retry"):
            raise line.error(f"'timeout' {where} expects 'resolve' or 'retry' and a time.",
                             "Write 'timeout resolve 1s' or 'timeout retry 1s'.")
        setattr(section, f"timeout_{args[0]}", _time(line, args[1]))
    elif word == "hold":
        if len(args) != 2 or args[0] not in HOLD_STATUSES:
            raise line.error(f"'hold' {where} expects a status and a time.",
                             f"Statuses: {', '.join(HOLD_STATUSES)}.")
        section.hold[args[0]] = _time(line, args[1])
    elif word == "resolution_pool_size":
        warnings.append(f"{line.file}:{line.number}: 'resolution_pool_size' is ignored (removed in haproxy 1.9).")
    else:
        raise line.error(f"unknown keyword '{word}' {where}.", did_you_mean(word, KEYWORDS)
                         or f"Expected one of: {', '.join(KEYWORDS)}.")


def _nameserver(section: ResolversSection, line: Line, args: tuple[str, ...]) -> Nameserver:
    if len(args) != 2:
        raise line.error("'nameserver' expects a name and an address.", "Write 'nameserver <name> <addr>[:<port>]'.")
    name, text = args
    if name in section.stats:
        raise line.error(f"nameserver '{name}' is already declared in resolvers '{section.name}'.")
    if text.startswith(("tcp@", "tcp4@", "tcp6@")):
        raise line.error(f"nameserver '{name}': DNS over TCP is not supported.", "Use a UDP address (udp@ or none).")
    for prefix in ("udp@", "udp4@", "udp6@"):
        text = text.removeprefix(prefix)
    try:
        host, port = split_host_port(text, need_port=False)
        host = str(ipaddress.ip_address(host)) if is_ip_literal(host) else socket.gethostbyname(host)
    except (ValueError, OSError) as exc:
        raise line.error(f"nameserver '{name}': invalid address '{args[1]}' ({exc}).",
                         "Write 'nameserver <name> <addr>[:<port>]'.") from None
    return Nameserver(name, host, port or 53)


def _integer(line: Line, args: tuple[str, ...], low: int, high: int) -> int:
    if len(args) != 1 or not args[0].isdigit() or not low <= int(args[0]) <= high:
        raise line.error(f"'{line.words[0]}' expects an integer between {low} and {high}.")
    return int(args[0])


def _time(line: Line, text: str) -> float:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise line.error(f"'{' '.join(line.words[:2])}': {exc}.") from None


def resolv_conf_nameservers(path: str = RESOLV_CONF) -> list[Nameserver]:
    """The ``nameserver`` lines of resolv.conf, each named by its address as haproxy names them."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return []
    found = []
    for match in re.finditer(r"^\s*nameserver\s+(\S+)", text, re.MULTILINE):
        address = match.group(1).split("%")[0]
        if is_ip_literal(address) and all(ns.name != address for ns in found):
            found.append(Nameserver(address, str(ipaddress.ip_address(address))))
    return found


def default_section() -> ResolversSection | None:
    """The implicit ``default`` section (resolv.conf's nameservers), None when resolv.conf names none."""
    nameservers = resolv_conf_nameservers()
    return ResolversSection("default", nameservers) if nameservers else None
