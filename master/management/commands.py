"""The management commands: one function per command, HAProxy 2.6's words and texts.

A command gets the supervisor (maps, workers, counters), the session and its
arguments, and returns its text, or a ``Pending`` text when every worker must
answer first.  A command that fails says why and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from luaproxy.lua_api import cli as lua_cli
from luaproxy.worker import stats
from luaproxy.worker.samples import PatternRef, SampleError
from luaproxy.worker.tls.counters import info_fields as ssl_info

from ..control import changes
from ..control.changes import PatternChange
from ..map_store import MapStore
from . import formats, peers, tables
from .commands_cafile import CAFILE_COMMANDS
from .commands_resolvers import RESOLVER_COMMANDS
from .commands_ssl import SSL_COMMANDS
from .commands_vars import VAR_COMMANDS
from .pending import Pending

USER, OPERATOR, ADMIN = 0, 1, 2
LEVEL_NAMES = ("user", "operator", "admin")

Reply = str | Pending


class Supervisor(Protocol):
    """What the commands need from the arbiter."""

    store: MapStore

    def spread(self, change: PatternChange) -> Pending:
        """Apply in the master, then in every worker; resolves to (result, problems text) or an error text."""

    def collect_stats(self) -> Pending:
        """Resolves to the list of every live worker's stats snapshot."""

    def process_facts(self) -> dict[str, Any]:
        """version, nbproc, pid, started, maxconn, listeners, ulimit, node, stopping."""

    def algorithms(self) -> dict[str, str]: ...

    def maxconn(self) -> int: ...

    def proc_table(self) -> str: ...

    def request_reload(self) -> None: ...

    def stick_tables(self) -> dict[str, Any]:
        """Every stick table by name (shared memory: the master reads and changes them directly)."""

    def knows_process(self, selector: str) -> bool:
        """``<n>`` (a worker slot) or ``!<pid>`` names a live worker."""

    def proxies(self) -> list[Any]:
        """The master's proxies (authoritative server and frontend state)."""

    def spread_runtime(self, change: Any) -> Pending:
        """A server or frontend change, applied by the master then every worker; resolves to its text."""

    def ask_workers(self, message: dict[str, Any]) -> Pending:
        """Resolves to the Outcome of *message* sent to every live worker."""
    def fleet_status(self) -> Pending:
        """``show fleet``: the Redis link's state and each process's digest of its maps and ACLs."""

    def peers_status(self) -> list[dict[str, Any]]:
        """The latest snapshot of every peers agent (``show peers``)."""


@dataclass(slots=True)
class Session:
    level: int = OPERATOR
    interactive: bool = False
    closing: bool = False  # end the session now, without the last command's answer
    experimental: bool = False  # experimental-mode on: 'set var' is allowed


Handler = Callable[[Supervisor, Session, list[str], "str | None"], Reply]


@dataclass(frozen=True, slots=True)
class Command:
    words: tuple[str, ...]
    usage: str
    text: str
    level: int
    handler: Handler | None = None  # None: a prefix the server handles (``@<pid> <command>``)


class CommandTable:
    """Commands by their leading words, in help order."""

    def __init__(self, commands: list[Command]) -> None:
        self.commands = sorted(commands, key=lambda c: c.usage)

    def find(self, words: list[str]) -> tuple[Command, list[str]] | None:
        best = None
        for command in self.commands:
            if command.handler is None:
                continue
            n = len(command.words)
            if tuple(words[:n]) == command.words and (best is None or n > len(best.words)):
                best = command
        return None if best is None else (best, words[len(best.words):])

    def run(self, sup: Supervisor, session: Session, words: list[str], payload: str | None) -> Reply:
        found = self.find(words)
        if found is None:
            return self.unknown(words, session.level)
        command, args = found
        if command.level > session.level or command.handler is None:
            return "Permission denied\n"
        return command.handler(sup, session, args, payload)

    def help(self, level: int, words: list[str]) -> str:
        shown = [c for c in self.commands if c.level <= level and (not words or words[0] in c.words)]
        return "The following commands are valid at this level:\n" + self._lines(shown)

    def unknown(self, words: list[str], level: int) -> str:
        """HAProxy's answer to an unknown command: the commands that start the same way, or all of them."""
        allowed = [c for c in self.commands if c.level <= level]
        near = [c for c in allowed if words and c.words[0] == words[0]]
        if near:
            return "Unknown command, but maybe one of the following ones is a better match:\n" + self._lines(near[:5])
        return "Unknown command. Please enter one of the following commands only:\n" + self._lines(allowed)

    @staticmethod
    def _lines(commands: list[Command]) -> str:
        return "".join(formats.help_line(c.usage, c.text) for c in commands) + _SESSION_HELP


_SESSION_HELP = "".join(formats.help_line(usage, text) for usage, text in (
    ("help [<command>]", "list matching or all commands"),
    ("prompt", "toggle interactive mode with prompt"),
    ("quit", "disconnect"),
))

# --- helpers --------------------------------------------------------------------------------------


def _unknown_id(kind: str) -> str:
    return f"Unknown {'map' if kind == 'map' else 'ACL'} identifier. Please use #<id> or <file>.\n"


def _ref(store: MapStore, kind: str, name: str | None) -> PatternRef | None:
    if not name:
        return None
    try:
        return store.library.find(name, kind)
    except SampleError:
        return None


def _version(word: str) -> int:
    """``@<ver>`` as HAProxy reads it (strtoul: leading digits, else 0)."""
    digits = ""
    for char in word[1:]:
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else 0


def _split_version(args: list[str]) -> tuple[int | None, list[str]]:
    if args and args[0].startswith("@"):
        return _version(args[0]), args[1:]
    return None, args


def _spread(sup: Supervisor, change: PatternChange, success: Callable[[Any], str] = lambda _: "") -> Pending:
    """Send a change everywhere; the reply is the command's text plus any worker that did not apply it."""

    def text(result: Any) -> str:
        if isinstance(result, str):
            return result
        value, problems = result
        return success(value) + problems

    return sup.spread(change).then(text)


def _target(ref: PatternRef) -> str:
    """How workers find the list: its file name, or ``#<id>`` for inline patterns."""
    return ref.name or f"#{ref.id}"


# --- show / get -----------------------------------------------------------------------------------


def show_patterns(kind: str) -> Handler:
    def show(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
        version, rest = _split_version(args)
        if version is None and not rest:
            return formats.ref_list(sup.store.library.refs(kind))
        ref = _ref(sup.store, kind, rest[0] if rest else None)
        if ref is None:
            return _unknown_id(kind)
        return formats.ref_entries(ref, version, kind == "map")

    return show


def get_pattern(kind: str) -> Handler:
    def get(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
        if len(args) < 2:
            return f"Missing {'map' if kind == 'map' else 'ACL'} identifier and/or key.\n"
        ref = _ref(sup.store, kind, args[0])
        if ref is None:
            return _unknown_id(kind)
        return formats.match_reports(ref.get(args[1]), kind == "map")

    return get


# --- changes --------------------------------------------------------------------------------------


def add_map(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    version, rest = _split_version(args)
    usage = ("'add map' expects three parameters (map identifier, key and value) or one parameter "
             "(map identifier) and a payload\n")
    if payload is not None and rest:
        entries = []
        for line in payload.split("\n"):
            key, _, value = line.lstrip(" \t").partition(" ")
            value = value.strip(" \t")
            if not value:
                return f"Missing value for key '{key}'.\n"
            entries.append((key, value))
    elif len(rest) >= 3:
        entries = [(rest[1], rest[2])]
    else:
        return usage
    ref = _ref(sup.store, "map", rest[0])
    if ref is None:
        return _unknown_id("map")
    return _spread(sup, PatternChange("map", _target(ref), "add", version=version, entries=tuple(entries)))


def add_acl(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    version, rest = _split_version(args)
    if len(rest) < 2:
        return "'add acl' expects two parameters: ACL identifier and pattern.\n"
    ref = _ref(sup.store, "acl", rest[0])
    if ref is None:
        return _unknown_id("acl")
    return _spread(sup, PatternChange("acl", _target(ref), "add", version=version, entries=((rest[1], None),)))


def set_map(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    if len(args) < 3:
        return "'set map' expects three parameters: map identifier, key and value.\n"
    ref = _ref(sup.store, "map", args[0])
    if ref is None:
        return _unknown_id("map")
    located = changes.locate(ref, args[1])
    if located is None:
        return "entry not found.\n"
    key, nth = located
    return _spread(sup, PatternChange("map", _target(ref), "set", key, args[2], nth=nth))


def del_pattern(kind: str) -> Handler:
    def delete(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
        if len(args) < 2:
            return f"This command expects two parameters: {'map' if kind == 'map' else 'ACL'} identifier and key.\n"
        ref = _ref(sup.store, kind, args[0])
        if ref is None:
            return _unknown_id("map")  # haproxy 2.6 says "map" for 'del acl' too
        located = changes.locate(ref, args[1])
        if located is None:
            return "Key not found.\n"
        key, nth = located
        return _spread(sup, PatternChange(kind, _target(ref), "del", key, nth=nth))

    return delete


def clear_pattern(kind: str) -> Handler:
    def clear(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
        version, rest = _split_version(args)
        if not rest:
            return f"Missing {'map' if kind == 'map' else 'ACL'} identifier.\n"
        ref = _ref(sup.store, kind, rest[0])
        if ref is None:
            return _unknown_id(kind)
        return _spread(sup, PatternChange(kind, _target(ref), "clear", version=version))

    return clear


def prepare_pattern(kind: str) -> Handler:
    def prepare(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
        ref = _ref(sup.store, kind, args[0] if args else None)
        if ref is None:
            return _unknown_id(kind)
        return _spread(sup, PatternChange(kind, _target(ref), "prepare"),
                       lambda version: f"New version created: {version}\n")

    return prepare


def commit_pattern(kind: str) -> Handler:
    def commit(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
        version, rest = _split_version(args)
        if version is None:
            return "Missing version number.\n"
        if not rest:
            return f"Missing {'map' if kind == 'map' else 'ACL'} identifier.\n"
        ref = _ref(sup.store, kind, rest[0])
        if ref is None:
            return _unknown_id(kind)
        return _spread(sup, PatternChange(kind, _target(ref), "commit", version=version))

    return commit


# --- process, counters, session -------------------------------------------------------------------


def show_info(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    return sup.collect_stats().then(
        lambda snapshots: formats.info({**sup.process_facts(), "ssl": ssl_info(snapshots)}, stats.merge(snapshots),
                                       time.time()))


def show_stat(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    return sup.collect_stats().then(
        lambda snapshots: formats.stat_csv(stats.merge(snapshots), sup.maxconn(), sup.algorithms(), time.time()))


def show_servers_state(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    def text(snapshots: list[dict[str, Any]]) -> str:
        proxies = stats.merge(snapshots)
        if args:
            proxies = [p for p in proxies if p["name"] == args[0] and p["backend"]]
            if not proxies:
                return "Can't find backend.\n"
        return formats.servers_state(proxies, time.time())

    return sup.collect_stats().then(text)


def _table_command(run: Callable[[dict[str, Any], list[str]], str]) -> Handler:
    def handler(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
        return run(sup.stick_tables(), args)

    return handler


def show_fleet(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    return sup.fleet_status()


def show_peers(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    return peers.show_peers(sup.peers_status(), args)


def get_var(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    """A ``proc.`` variable as the first worker holds it (each worker has its own ``proc.`` store)."""
    if not args:
        return "Missing process-wide variable identifier.\n"

    def text(snapshots: list[dict[str, Any]]) -> str:
        for snapshot in sorted(snapshots, key=lambda s: s["index"]):
            line = snapshot.get("proc_vars", {}).get(args[0])
            return "Variable not found.\n" if line is None else line  # haproxy ends it with the empty line
        return "Variable not found.\n"

    return sup.collect_stats().then(text)


def show_cli_level(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    return f"{LEVEL_NAMES[session.level]}\n"


def lower_level(level: int) -> Handler:
    def lower(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
        if session.level < level:
            return "Permission denied\n"
        session.level = level
        return ""

    return lower


def show_proc(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    return sup.proc_table()


def reload(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    """Like haproxy 2.6's master, close the session without a word: the reload follows."""
    sup.request_reload()
    session.closing = True
    return ""


def _pattern_commands() -> list[Command]:
    commands = []
    for kind, name in (("map", "map"), ("acl", "acl")):
        commands += [
            Command(("show", kind), f"show {kind} [@ver] [map]" if kind == "map" else "show acl [@<ver>] <acl>]",
                    f"report available {kind}s or dump a {kind}'s contents", USER, show_patterns(kind)),
            Command(("get", kind), f"get {kind} <acl> <value>",
                    "report the keys and values matching a sample for a map" if kind == "map"
                    else "report the patterns matching a sample for an ACL", USER, get_pattern(kind)),
            Command(("del", kind), f"del {kind} <{name}> [<key>|#<ref>]", f"delete {kind} entries matching <key>",
                    OPERATOR, del_pattern(kind)),
            Command(("clear", kind), f"clear {kind} [@<ver>] <{name}>", f"clear the contents of this {kind}",
                    OPERATOR, clear_pattern(kind)),
            Command(("prepare", kind), f"prepare {kind} <acl>",
                    f"prepare a new version for atomic {'map' if kind == 'map' else 'ACL'} replacement",
                    OPERATOR, prepare_pattern(kind)),
            Command(("commit", kind), f"commit {kind} @<ver> <{name}>",
                    f"commit the {'map' if kind == 'map' else 'ACL'} at this version", OPERATOR,
                    commit_pattern(kind)),
        ]
    commands += [
        Command(("add", "map"), "add map [@<ver>] <map> <key> <val>",
                "add a map entry (payload supported instead of key/val)", OPERATOR, add_map),
        Command(("add", "acl"), "add acl [@<ver>] <acl> <pattern>", "add an acl entry", OPERATOR, add_acl),
        Command(("set", "map"), "set map <map> [<key>|#<ref>] <value>", "modify a map entry", OPERATOR, set_map),
    ]
    return commands


def _level_commands() -> list[Command]:
    return [
        Command(("show", "cli", "level"), "show cli level", "display the level of the current CLI session", USER,
                show_cli_level),
        Command(("operator",), "operator", "lower the level of the current CLI session to operator", USER,
                lower_level(OPERATOR)),
        Command(("user",), "user", "lower the level of the current CLI session to user", USER, lower_level(USER)),
    ]


STATS_COMMANDS = CommandTable([
    *_pattern_commands(),
    *(Command(words, usage, text, ADMIN, handler) for words, usage, text, handler in (*SSL_COMMANDS,
                                                                                     *CAFILE_COMMANDS)),
    *_level_commands(),
    Command(("show", "info"), "show info", "report information about the running process", USER, show_info),
    Command(("show", "stat"), "show stat", "report counters for each proxy and server", USER, show_stat),
    Command(("show", "servers", "state"), "show servers state [<backend>]",
            "dump volatile server information (all or for a single backend)", USER, show_servers_state),
    Command(("show", "table"), "show table <table> [<filter>]*",
            "report table usage stats or dump this table's contents (filter: data/key)", OPERATOR,
            _table_command(tables.show_table)),
    Command(("clear", "table"), "clear table <table> [<filter>]*", "remove an entry from a table (filter: data/key)",
            ADMIN, _table_command(tables.clear_table)),
    Command(("set", "table"), "set table <table> key <k> [data.* <v>]*", "update or create a table entry's data",
            ADMIN, _table_command(tables.set_table)),
    Command(("show", "fleet"), "show fleet", "report the fleet-sync link and each process's map digests", USER,
            show_fleet),
    Command(("show", "peers"), "show peers [dict|-] [section]",
            "dump some information about all the peers or this peers section", USER, show_peers),
    Command(("get", "var"), "get var <name>", "retrieve contents of a process-wide variable", OPERATOR, get_var),
    *(Command(words, usage, text, ADMIN if level == "admin" else OPERATOR, handler)
      for words, usage, text, level, handler in VAR_COMMANDS),
    *(Command(words, usage, text, USER, handler) for words, usage, text, handler in RESOLVER_COMMANDS),
])

MASTER_COMMANDS = CommandTable([
    *_level_commands(),
    Command(("@<relative pid>",), "@<relative pid>", "send a command to the <relative pid> process", USER),
    Command(("@!<pid>",), "@!<pid>", "send a command to the <pid> process", USER),
    Command(("@master",), "@master", "send a command to the master process", USER),
    Command(("reload",), "reload", "reload haproxy", OPERATOR, reload),
    Command(("show", "proc"), "show proc", "show processes status", USER, show_proc),
])


def with_lua_commands(table: CommandTable, engine: Any) -> CommandTable:
    """*table* plus the commands the Lua files registered with core.register_cli (operator level, as HAProxy)."""
    def handler(command: Any) -> Handler:
        def run(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
            return lua_cli.run_command(engine, command, [*command.path, *args], payload)
        return run

    lua = [Command(c.path, c.usage, "", OPERATOR, handler(c)) for c in engine.registry.cli]
    return CommandTable([*table.commands, *lua]) if lua else table
