"""Split configuration files into lines of words, as HAProxy's parser does.

Handles comments, single and double quotes, backslash escapes and, inside
double quotes, environment variables: ``$VAR``, ``${VAR}``, ``${VAR-default}``,
``${VAR[*]}`` (one word per space-separated item) and the pseudo-variables
``${.FILE}``, ``${.LINE}`` and ``${.SECTION}``; a bare ``$VAR`` outside quotes
is left alone, as HAProxy does.  Conditional blocks (``.if``/``.elif``/``.else``/
``.endif``) and the ``.diag``/``.notice``/``.warning``/``.alert`` directives are
resolved here, so later stages only see the lines that apply.  Every line keeps
its file name and number so that errors can point at it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from .conditions import ConditionError, evaluate
from .errors import ConfigError

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", " ": " ", "\\": "\\", "#": "#", '"': '"', "'": "'", "$": "$"}
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"\{(\.?[A-Za-z_][A-Za-z0-9_]*)(\[\*\])?(?:-([^}]*))?\}")
DIRECTIVES = (".if", ".elif", ".else", ".endif", ".diag", ".notice", ".warning", ".alert")


@dataclass(frozen=True, slots=True)
class Line:
    """One logical configuration line."""

    file: str
    number: int
    words: tuple[str, ...]

    def error(self, message: str, hint: str = "") -> ConfigError:
        return ConfigError(self.file, self.number, message, hint)


def split_words(text: str, file: str = "", number: int = 0, section: str = "") -> list[str]:
    """Words of one line; raises ConfigError on an unterminated quote or bad variable."""
    words: list[str] = []
    current: list[str] = []
    in_word = False
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote == "'":
            if c == "'":
                quote = ""
            else:
                current.append(c)
            i += 1
            continue
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "x" and i + 3 < len(text):
                current.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
            else:
                current.append(_ESCAPES.get(nxt, "\\" + nxt))
                i += 2
            in_word = True
            continue
        if c == '"' or (c == "'" and not quote):
            quote = "" if quote == c else c
            in_word = True
            i += 1
            continue
        if c == "$" and quote == '"':
            braced = _BRACED.match(text, i + 1)
            bare = None if braced else _BARE_NAME.match(text, i + 1)
            if text.startswith("${", i) and not braced:
                raise ConfigError(file, number, "malformed or unterminated '${' in a variable reference",
                                  "Write ${NAME}, ${NAME-default} or ${NAME[*]}.")
            if braced or bare:
                name = (braced or bare).group(1) if braced else bare.group(0)
                value = _variable(name, file, number, section)
                if value is None:
                    value = braced.group(3) if braced and braced.group(3) is not None else ""
                if braced and braced.group(2):
                    first, *rest = value.split() or [""]
                    current.append(first)
                    for item in rest:
                        words.append("".join(current))
                        current = [item]
                else:
                    current.append(value)
                in_word = True
                i = (braced or bare).end()
                continue
        if not quote and c == "#":
            break
        if not quote and c in " \t":
            if in_word:
                words.append("".join(current))
                current = []
                in_word = False
            i += 1
            continue
        current.append(c)
        in_word = True
        i += 1
    if quote:
        raise ConfigError(file, number, f"unmatched quote ({quote}) on this line",
                          "Close it or escape it with a backslash.")
    if in_word:
        words.append("".join(current))
    return words


def _variable(name: str, file: str, number: int, section: str) -> str | None:
    if name == ".FILE":
        return file
    if name == ".LINE":
        return str(number)
    if name == ".SECTION":
        return section
    return os.environ.get(name)


@dataclass(slots=True)
class _Level:
    """One open ``.if``: whether its enclosing block is active, a branch was taken, ``.else`` was seen."""

    line: Line
    parent_active: bool
    taken: bool
    active: bool
    seen_else: bool = False


@dataclass(slots=True)
class FileText:
    """What reading one file gave: the active lines, the errors and the messages of ``.notice`` & co."""

    lines: list[Line] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)


def read_file(path: str, section_keywords: Collection[str] = ()) -> FileText:
    """Every active non-empty line of one file, collecting every error instead of stopping at the first."""
    result = FileText()
    try:
        text = Path(path).read_text(encoding="latin-1")
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        result.errors.append(ConfigError(
            path, 0, f"cannot open configuration file: {getattr(exc, 'strerror', None) or exc}"))
        return result
    levels: list[_Level] = []
    section = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        active = not levels or levels[-1].active
        try:
            words = split_words(raw, path, number, section)
        except ConfigError as exc:
            if active:
                result.errors.append(exc)
            continue
        if not words:
            continue
        line = Line(path, number, tuple(words))
        if words[0] in DIRECTIVES:
            _directive(line, levels, active, result)
        elif active:
            if words[0] in section_keywords:
                section = words[1] if len(words) > 1 else words[0]
            result.lines.append(line)
    for level in levels:
        result.errors.append(level.line.error("'.if' is never closed.", "Add the matching '.endif'."))
    return result


def _directive(line: Line, levels: list[_Level], active: bool, result: FileText) -> None:
    word, args = line.words[0], line.words[1:]
    if word == ".if":
        value = _condition(line, result) if active else False
        levels.append(_Level(line, active, value, active and value))
        return
    if word in (".elif", ".else", ".endif"):
        if not levels:
            result.errors.append(line.error(f"'{word}' without a matching '.if'."))
            return
        level = levels[-1]
        if word == ".endif":
            levels.pop()
        elif level.seen_else:
            result.errors.append(line.error(f"'{word}' after '.else'.", "'.else' must be the last branch."))
        elif word == ".else":
            level.seen_else = True
            level.active = level.parent_active and not level.taken
            level.taken = True
        else:
            value = _condition(line, result) if level.parent_active and not level.taken else False
            level.active = level.parent_active and not level.taken and value
            level.taken = level.taken or value
        return
    if active:
        message = " ".join(args)
        if word == ".alert":
            result.errors.append(line.error(message))
        else:
            result.messages.append((word[1:], f"parsing [{line.file}:{line.number}] : {message}"))


def _condition(line: Line, result: FileText) -> bool:
    try:
        return evaluate(" ".join(line.words[1:]))
    except ConditionError as exc:
        result.errors.append(line.error(f"failed to evaluate condition: {exc}."))
        return False




def config_files(paths: list[str]) -> list[str]:
    """Expand ``-f`` arguments: a directory gives its ``*.cfg`` files in name order."""
    files: list[str] = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            files.extend(str(f) for f in sorted(p.glob("*.cfg")) if f.is_file())
        else:
            files.append(path)
    return files
