"""The Regex class: HAProxy's regexes for Lua, on Python's re (PCRE-like syntax).

``Regex.new(re, case_sensitive)`` returns ``true, regex`` or ``false, reason``;
``exec`` searches (unanchored, as PCRE does); ``match`` returns ``true`` and
the whole match then each group, or ``false`` and an empty table, as haproxy
2.6 does.  At most 20 captures count, as in HAProxy.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from . import checks

MAX_MATCHES = 20


def compile_regex(pattern: Any, case_sensitive: Any = True) -> tuple[bool, Any]:
    text = checks.string(pattern, "new", 1)
    try:
        return True, re.compile(text, 0 if case_sensitive else re.IGNORECASE)
    except re.error as exc:
        return False, f"regex '{text}' is invalid (error={exc.msg}, erroffset={exc.pos or 0})"


def exec_(regex: re.Pattern[str], text: Any) -> bool:
    return regex.search(checks.string(text, "exec", 2)) is not None


def match(regex: re.Pattern[str], text: Any) -> tuple[bool, list[str]]:
    found = regex.search(checks.string(text, "match", 2))
    if found is None:
        return False, []
    groups = [found.group(0), *itertools.takewhile(lambda g: g is not None, found.groups())]
    return True, groups[:MAX_MATCHES]


FUNCTIONS = {"exec": exec_, "match": match}
