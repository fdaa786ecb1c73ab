"""The management socket's text protocol, without I/O.

A client sends lines; a line holds one or more commands separated by ``;``;
words are separated by blanks and a backslash escapes the next character.
A line ending in ``<<`` takes the lines that follow, up to an empty one, as
the payload of its last command.  Every response ends with an empty line;
in interactive (``prompt``) mode a ``> `` prompt follows it.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE = 1024 * 1024
MAX_PAYLOAD = 64 * 1024 * 1024


class TooLong(Exception):
    """The client sent a line or a payload larger than we keep."""


@dataclass(slots=True)
class Request:
    words: list[str]
    payload: str | None = None


def split_commands(line: str) -> list[list[str]]:
    """The words of each ``;``-separated command of one line."""
    commands: list[list[str]] = []
    words: list[str] = []
    word: list[str] = []
    in_word = False
    chars = iter(line)
    for char in chars:
        if char == "\\":
            word.append(next(chars, ""))
            in_word = True
        elif char in " \t":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        elif char == ";":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            commands.append(words)
            words = []
        else:
            word.append(char)
            in_word = True
    if in_word:
        words.append("".join(word))
    commands.append(words)
    return commands


class LineReader:
    """Bytes in, request lines out: each item is the list of commands of one line."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._payload_for: list[Request] | None = None
        self._payload: list[str] = []
        self._payload_size = 0

    def feed(self, data: bytes) -> list[list[Request]]:
        self._buffer += data
        lines: list[list[Request]] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    raise TooLong("line too long")
                return lines
            raw = bytes(self._buffer[:end]).rstrip(b"\r").decode("latin-1")
            del self._buffer[:end + 1]
            if self._payload_for is not None:
                if raw:
                    self._payload.append(raw)
                    self._payload_size += len(raw) + 1
                    if self._payload_size > MAX_PAYLOAD:
                        raise TooLong("payload too long")
                    continue
                self._payload_for[-1].payload = "\n".join(self._payload)
                lines.append(self._payload_for)
                self._payload_for, self._payload, self._payload_size = None, [], 0
                continue
            requests = [Request(words) for words in split_commands(raw)]
            if raw.rstrip(" \t").endswith("<<") and requests[-1].words and requests[-1].words[-1] == "<<":
                requests[-1].words.pop()
                self._payload_for = requests
                continue
            lines.append(requests if raw.strip(" \t") else [])

    def finish(self) -> list[list[Request]]:
        """The client closed its side: a last line without its newline still counts."""
        return self.feed(b"\n") if self._buffer else []

    @property
    def waiting_payload(self) -> bool:
        return self._payload_for is not None


def frame(text: str, interactive: bool) -> bytes:
    """One command's response: its text, the closing empty line, then the prompt when interactive."""
    return (text + "\n" + ("> " if interactive else "")).encode("latin-1", "replace")
