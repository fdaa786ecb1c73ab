"""Split configuration files into lines of words, as HAProxy's parser does.

Handles comments, single and double quotes, backslash escapes and ``${VAR}``
environment expansion inside double quotes (and bare ``$VAR`` outside quotes is
left alone, as HAProxy does).  Every line keeps its file name and number so that
errors can point at it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", " ": " ", "\\": "\\", "#": "#", '"': '"', "'": "'", "$": "$"}


@dataclass(frozen=True, slots=True)
class Line:
    """One logical configuration line."""

    file: str
    number: int
    words: tuple[str, ...]

    def error(self, message: str, hint: str = "") -> ConfigError:
        return ConfigError(self.file, self.number, message, hint)


def split_words(text: str, file: str = "", number: int = 0) -> list[str]:
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
        if c == "$" and quote == '"' and text.startswith("${", i):
            end = text.find("}", i)
            if end < 0:
                raise ConfigError(file, number, "unterminated '${' in a variable reference")
            name = text[i + 2 : end]
            current.append(os.environ.get(name, ""))
            i = end + 1
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


def read_lines(path: str) -> list[Line]:
    """Every non-empty line of one file."""
    try:
        text = Path(path).read_text(encoding="latin-1")
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError(path, 0, f"cannot open configuration file: {getattr(exc, 'strerror', None) or exc}") from None
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = split_words(raw, path, number)
        if words:
            lines.append(Line(path, number, tuple(words)))
    return lines


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
