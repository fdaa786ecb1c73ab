"""``show table``, ``clear table`` and ``set table``: haproxy 2.6's words and texts.

The tables live in shared memory, so the master reads and changes them
directly: every worker sees the result at once, nothing is fanned out.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from luaproxy.worker.sticktable import SharedTable

OPERATORS: dict[str, Callable[[int, int], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "le": operator.le, "ge": operator.ge, "lt": operator.lt, "gt": operator.gt,
}
_INT = re.compile(r"-?[0-9]+")
Filter = tuple[str, Callable[[int, int], bool], int]


class TableCommandError(Exception):
    """A refused table command; the message is haproxy's text."""


def header(table: SharedTable, used: int | None = None) -> str:
    spec = table.spec
    count = table.used() if used is None else used
    return f"# table: {spec.name}, type: {spec.type_label}, size:{spec.size}, used:{count}\n"


def entry_line(table: SharedTable, idx: int) -> str:
    """One entry as haproxy prints it: a pseudo address, key, users, expiry, then every stored value."""
    spec = table.spec
    words = [f"0x{0x55d000000000 + table.entries_at * 8 + idx * table.entry_words * 8:x}:",
             f"key={spec.key_text(table.key(idx))}", f"use={table.refs(idx)}", f"exp={table.expires_in(idx)}"]
    words.extend(f"{label}={value}" for label, value in table.display(idx))
    return " ".join(words) + "\n"


def _parse(table: SharedTable, args: list[str], action: str) -> tuple[bytes | None, list[Filter]]:
    """``key K`` or up to four ``data.TYPE OP VALUE`` filters."""
    if args[:1] == ["key"]:
        if len(args) < 2:
            raise TableCommandError("Key value expected\n")
        try:
            return table.spec.key_from_text(args[1]), []
        except (ValueError, OSError):
            raise TableCommandError("Invalid key\n") from None
    filters: list[Filter] = []
    rest = list(args)
    if rest and not rest[0].startswith("data."):
        if action == "show":
            raise TableCommandError('Optional argument only supports "data.<store_data_type>" <operator> <value> '
                                    "and key <key>\n")
        raise TableCommandError('Required arguments: <table> "data.<store_data_type>" <operator> <value> or '
                                "<table> key <key>\n")
    while rest:
        number = len(filters) + 1
        name = rest[0][5:] if rest[0].startswith("data.") else ""
        if name not in table.offsets:
            raise TableCommandError(f"Filter entry #{number}: Unknown data type\n")
        if len(rest) < 2 or rest[1] not in OPERATORS:
            raise TableCommandError(f'Filter entry #{number}: Require and operator among "eq", "ne", "le", "ge", '
                                    '"lt", "gt"\n')
        if len(rest) < 3 or not _INT.fullmatch(rest[2]):
            raise TableCommandError(f"Filter entry #{number}: Require a valid integer value to compare against\n")
        filters.append((name, OPERATORS[rest[1]], int(rest[2])))
        rest = rest[3:]
    return None, filters


def _selected(table: SharedTable, key: bytes | None, filters: list[Filter]) -> tuple[int, list[int]]:
    """(used, the entries to show, in key order as haproxy walks its tree): one snapshot, so that the
    header and the lines agree."""
    used, live = table.snapshot()
    if key is not None:
        idx = table.lookup(key)
        return used, [idx] if idx >= 0 and idx in live else []
    chosen = []
    for idx in sorted(live, key=table.key):
        values = table.data(idx)
        if all(op(_number(values[name]), value) for name, op, value in filters):
            chosen.append(idx)
    return used, chosen


def _number(value: int | str) -> int:
    """A value as a filter compares it: server_key, a string, compares as 0 (haproxy has no case for it)."""
    return value if isinstance(value, int) else 0


def show_table(tables: dict[str, SharedTable], args: list[str]) -> str:
    if not args:
        return "".join(header(t) for t in reversed(list(tables.values())))
    table = tables.get(args[0])
    if table is None:
        return "No such table\n"
    try:
        key, filters = _parse(table, args[1:], "show")
    except TableCommandError as exc:
        return str(exc)
    used, chosen = _selected(table, key, filters)
    if key is not None and not chosen:
        return ""
    return header(table, used) + "".join(entry_line(table, idx) for idx in chosen)


def clear_table(tables: dict[str, SharedTable], args: list[str]) -> str:
    table = tables.get(args[0]) if args else None
    if table is None:
        return "No such table\n"
    try:
        key, filters = _parse(table, args[1:], "clear")
    except TableCommandError as exc:
        return str(exc)
    if key is not None:
        table.delete(key)
        return ""
    for idx in _selected(table, None, filters)[1]:
        table.delete(table.key(idx))
    return ""


def set_table(tables: dict[str, SharedTable], args: list[str]) -> str:
    table = tables.get(args[0]) if args else None
    if table is None:
        return "No such table\n"
    rest = args[1:]
    if rest[:1] != ["key"]:
        return 'content-based lookup is only supported with the "show" and "clear" actions\n'
    if len(rest) < 2:
        return "Key value expected\n"
    if table.spec.key_type.value == "binary":
        return "Inserting keys into tables of type other than ip, ipv6, string and integer is not supported\n"
    try:
        key = table.spec.key_from_text(rest[1])
    except (ValueError, OSError):
        return "Invalid key\n"
    updates: list[tuple[str, int]] = []
    words = rest[2:]
    while words:
        if not words[0].startswith("data."):
            return '"data.<type>" followed by a value expected\n'
        name = words[0][5:]
        if name not in table.offsets:
            return "Unknown data type\n"
        if len(words) < 2 or not _INT.fullmatch(words[1]):
            return "Require a valid integer value to store\n"
        updates.append((name, int(words[1])))
        words = words[2:]
    idx = table.get_or_create(key)
    if idx < 0:
        return "Unable to allocate a new entry\n"
    for name, value in updates:
        if name != "server_key":  # haproxy sets no string from the CLI
            table.set_value(idx, name, value)
    return ""


def describe(tables: dict[str, SharedTable]) -> list[dict[str, Any]]:
    """Name, type, size and use of every table (promex's haproxy_sticktable_* families)."""
    return [{"name": t.name, "type": t.spec.type_label, "size": t.size, "used": t.used()} for t in tables.values()]
