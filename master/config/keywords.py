"""The keyword registry: each configuration keyword is declared once.

A declaration names the keyword, the sections that accept it, its parser and
a one-line doc; ``-c``, the unknown-keyword hints and the docs read this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import did_you_mean
from .lexer import Line

PROXY_SECTIONS = ("defaults", "frontend", "backend", "listen")
FRONT = ("defaults", "frontend", "listen")
BACK = ("defaults", "backend", "listen")
ANY_PROXY = PROXY_SECTIONS

Parser = Callable[[Any, Line], None]


@dataclass(frozen=True, slots=True)
class Keyword:
    name: str
    sections: tuple[str, ...]
    parse: Parser
    doc: str


class KeywordTable:
    """Keywords of one family (global or proxy), looked up by their first word."""

    def __init__(self) -> None:
        self._keywords: dict[str, Keyword] = {}
        self._prefixes: dict[str, Keyword] = {}

    def register(self, name: str, sections: tuple[str, ...], doc: str) -> Callable[[Parser], Parser]:
        def add(parse: Parser) -> Parser:
            self._keywords[name] = Keyword(name, sections, parse, doc)
            return parse

        return add

    def register_prefix(self, prefix: str, sections: tuple[str, ...], doc: str) -> Callable[[Parser], Parser]:
        """A parser for every keyword starting with *prefix* that has none of its own (tune.*)."""
        def add(parse: Parser) -> Parser:
            self._prefixes[prefix] = Keyword(prefix + "*", sections, parse, doc)
            return parse

        return add

    def lookup(self, name: str) -> Keyword | None:
        keyword = self._keywords.get(name)
        if keyword is None:
            keyword = next((k for p, k in self._prefixes.items() if name.startswith(p)), None)
        return keyword

    def hint(self, word: str) -> str:
        return did_you_mean(word, self._keywords)

    def __iter__(self):
        return iter(sorted(self._keywords.values(), key=lambda k: k.name))


GLOBAL = KeywordTable()
PROXY = KeywordTable()


def expect_args(line: Line, minimum: int, maximum: int | None, usage: str) -> tuple[str, ...]:
    """The words after the keyword, checked for count; the error shows the usage."""
    args = line.words[1:]
    if len(args) < minimum or (maximum is not None and len(args) > maximum):
        raise line.error(f"'{line.words[0]}' expects {usage}.")
    return args


def on_off(line: Line, choices: tuple[str, ...] = ("on", "off")) -> str:
    """The one argument of an on/off keyword (``tune.idle-pool.shared on``), worded as haproxy 2.6 refuses it."""
    args = line.words[1:]
    if len(args) != 1 or args[0] not in choices:
        allowed = " or ".join(f"'{c}'" for c in choices)
        raise line.error(f"'{line.words[0]}' expects either {allowed} but got '{' '.join(args)}'.")
    return args[0]


def to_int(line: Line, word: str, what: str, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        value = int(word)
    except ValueError:
        raise line.error(f"'{line.words[0]}' expects an integer {what}, got '{word}'.") from None
    if value < minimum:
        raise line.error(f"'{line.words[0]}' expects {what} >= {minimum}, got '{word}'.")
    if maximum is not None and value > maximum:
        raise line.error(f"'{line.words[0]}' expects {what} <= {maximum}, got '{word}'.")
    return value
