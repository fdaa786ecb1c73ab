"""The ``stats`` lines of one proxy, checked at parse time and compiled into a StatsConf."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_URI = "/haproxy?stats"
DEFAULT_REALM = "HAProxy Statistics"
VALUED = ("uri", "realm", "auth", "refresh", "scope")
FLAGS = ("enable", "hide-version", "show-legends", "show-modules")
OPTIONAL_VALUE = ("show-node", "show-desc")


@dataclass(slots=True)
class StatsConf:
    uri: str = DEFAULT_URI
    realm: str = DEFAULT_REALM
    users: dict[str, str] = field(default_factory=dict)
    refresh: int = 0
    scopes: list[str] = field(default_factory=list)
    admin: list[Any] = field(default_factory=list)
    """Compiled ``stats admin if|unless`` conditions: any that matches allows the POST actions."""
    hide_version: bool = False
    show_legends: bool = False
    node: str | None = None
    desc: str | None = None

    def allows_admin(self, txn: Any) -> bool:
        return any(cond.matches(txn) for cond in self.admin)


def check_stats_line(words: tuple[str, ...], parse_seconds: Callable[[str], float]) -> None:
    """Refuse a malformed ``stats`` line (the words after 'stats'); raises ValueError."""
    if not words:
        raise ValueError("'stats' expects 'enable', 'uri', 'realm', 'auth', 'scope', 'refresh', 'admin', "
                         "'hide-version', 'show-legends', 'show-node' or 'show-desc'")
    keyword, args = words[0], words[1:]
    if keyword in FLAGS and not args:
        return
    if keyword in OPTIONAL_VALUE:
        return
    if keyword in VALUED and len(args) >= 1:
        if keyword == "auth" and ":" not in args[0]:
            raise ValueError("'stats auth' expects <user>:<password>")
        if keyword == "refresh":
            parse_seconds(args[0])
        return
    if keyword == "admin" and len(args) >= 2 and args[0] in ("if", "unless"):
        return
    if keyword in ("socket", "timeout", "maxconn", "bind-process"):
        raise ValueError(f"'stats {keyword}' is only allowed in 'global' section")
    raise ValueError(f"unknown stats parameter '{keyword}' or missing argument (expected 'enable', 'uri', "
                     "'realm', 'auth', 'scope', 'refresh', 'admin', 'hide-version', 'show-legends', 'show-node' "
                     "or 'show-desc')")


def build(lines: list[tuple[str, ...]] | None, condition: Callable[[tuple[str, ...]], Any],
          parse_seconds: Callable[[str], float]) -> StatsConf | None:
    """The proxy's StatsConf, or None when no line enables the page (``stats admin`` alone does not)."""
    if not lines:
        return None
    admin = [condition(tuple(words[1:])) for words in lines if words[0] == "admin"]  # errors even if unused
    if len(admin) == len(lines):
        return None
    conf = StatsConf(admin=admin)
    for keyword, *args in lines:
        if keyword == "uri":
            conf.uri = args[0]
        elif keyword == "realm":
            conf.realm = " ".join(args)
        elif keyword == "auth":
            user, _, password = args[0].partition(":")
            conf.users[user] = password
        elif keyword == "refresh":
            conf.refresh = int(parse_seconds(args[0]))
        elif keyword == "scope":
            conf.scopes.append(args[0])
        elif keyword == "hide-version":
            conf.hide_version = True
        elif keyword == "show-legends":
            conf.show_legends = True
        elif keyword == "show-node":
            conf.node = args[0] if args else ""
        elif keyword == "show-desc":
            conf.desc = " ".join(args)
    return conf
