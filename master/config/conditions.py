"""HAProxy's condition expressions: ``.if`` blocks in configuration files and ``-cc`` on the command line.

An expression is terms joined by ``&&`` and ``||`` (``&&`` binds tighter), each
term optionally negated by ``!`` or parenthesized.  A term is an integer (true
when not zero) or a predicate call: ``defined(VAR)``, ``feature(NAME)``,
``streq(a,b)``, ``strneq(a,b)``, ``version_atleast(V)``, ``version_before(V)``,
``openssl_version_atleast(V)``, ``openssl_version_before(V)`` and
``ssllib_name_startswith(NAME)``.  The empty expression is false.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Callable

from ..version import FEATURES, HAPROXY_VERSION


class ConditionError(ValueError):
    """An expression that does not parse; the message says where."""


_VERSION_PART = re.compile(r"(\d+)")
_STAGES = {"dev": 0, "pre": 1, "rc": 2}


def version_key(text: str) -> tuple[int, ...]:
    """Order versions as haproxy does: 2.5-dev0 < 2.5-rc1 < 2.5 = 2.5.0 < 2.5.1."""
    main, _, suffix = text.strip().partition("-")
    numbers = [int(n) for n in main.split(".") if n.isdigit()][:4]
    numbers += [0] * (4 - len(numbers))
    stage, stage_number = 3, 0
    for name, rank in _STAGES.items():
        if suffix.startswith(name):
            stage = rank
            digits = _VERSION_PART.match(suffix[len(name):])
            stage_number = int(digits.group(1)) if digits else 0
    return (*numbers, stage, stage_number)


def _openssl_version() -> str:
    found = re.search(r"(\d+\.\d+\.\d+)", ssl.OPENSSL_VERSION)
    return found.group(1) if found else "0.0.0"


def _one(args: list[str], name: str) -> str:
    if len(args) != 1:
        raise ConditionError(f"'{name}' expects one argument")
    return args[0]


def _two(args: list[str], name: str) -> tuple[str, str]:
    if len(args) != 2:
        raise ConditionError(f"'{name}' expects two arguments")
    return args[0], args[1]


PREDICATES: dict[str, Callable[[list[str]], bool]] = {
    "defined": lambda a: _one(a, "defined") in os.environ,
    "feature": lambda a: _one(a, "feature").upper() in FEATURES,
    "streq": lambda a: (lambda x, y: x == y)(*_two(a, "streq")),
    "strneq": lambda a: (lambda x, y: x != y)(*_two(a, "strneq")),
    "version_atleast": lambda a: version_key(HAPROXY_VERSION) >= version_key(_one(a, "version_atleast")),
    "version_before": lambda a: version_key(HAPROXY_VERSION) < version_key(_one(a, "version_before")),
    "openssl_version_atleast": lambda a: (version_key(_openssl_version())
                                          >= version_key(_one(a, "openssl_version_atleast"))),
    "openssl_version_before": lambda a: (version_key(_openssl_version())
                                         < version_key(_one(a, "openssl_version_before"))),
    "ssllib_name_startswith": lambda a: ssl.OPENSSL_VERSION.startswith(_one(a, "ssllib_name_startswith")),
}


class _Parser:
    """Recursive descent over one string: expr := and ('||' and)*; and := term ('&&' term)*."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> ConditionError:
        return ConditionError(f"{what} at position {self.pos + 1} in '{self.text}'")

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def take(self, token: str) -> bool:
        self.skip_spaces()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def parse(self) -> bool:
        self.skip_spaces()
        if self.pos == len(self.text):
            return False
        value = self.expression()
        self.skip_spaces()
        if self.pos != len(self.text):
            raise self.fail(f"unexpected character '{self.text[self.pos]}'")
        return value

    def expression(self) -> bool:
        value = self.conjunction()
        while self.take("||"):
            value = self.conjunction() or value
        return value

    def conjunction(self) -> bool:
        value = self.term()
        while self.take("&&"):
            value = self.term() and value
        return value

    def term(self) -> bool:
        if self.take("!"):
            return not self.term()
        if self.take("("):
            value = self.expression()
            if not self.take(")"):
                raise self.fail("missing closing parenthesis")
            return value
        self.skip_spaces()
        number = re.compile(r"-?\d+").match(self.text, self.pos)
        if number:
            self.pos = number.end()
            return int(number.group()) != 0
        name = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(self.text, self.pos)
        if not name:
            raise self.fail("expected a number or a predicate")
        self.pos = name.end()
        predicate = PREDICATES.get(name.group())
        if predicate is None:
            raise self.fail(f"unknown predicate '{name.group()}'")
        if not self.take("("):
            raise self.fail(f"missing '(' after '{name.group()}'")
        end = self.text.find(")", self.pos)
        if end < 0:
            raise self.fail("missing ')' after the arguments")
        inside = self.text[self.pos:end]
        self.pos = end + 1
        return predicate([arg.strip() for arg in inside.split(",")] if inside.strip() else [])


def evaluate_words(expression: str) -> bool:
    """An expression read like a configuration line first (quotes, variables), as -cc and .if do."""
    from .errors import ConfigError
    from .lexer import split_words

    try:
        words = split_words(expression)
    except ConfigError as exc:
        raise ConditionError(exc.message) from None
    return evaluate(" ".join(words))


def evaluate(text: str) -> bool:
    """The value of one expression (its words already unquoted and expanded); ConditionError if it is bad."""
    return _Parser(text).parse()
