"""The one error type of the sample engine.

Parse problems in expressions, ACLs, patterns, map files and log-format strings
all raise ``SampleError``; runtime map operations raise it too, worded as
HAProxy words them, so the config layer and the management socket can show the
text as is (adding file:line or a trailing newline themselves).
"""

from __future__ import annotations

from collections.abc import Iterable


class SampleError(Exception):
    """A sample-engine error: a message, plus an optional "did you mean" name."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (did you mean '{self.hint}'?)"
        return self.message


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to *name*, if one is close enough to suggest."""
    import difflib  # only a configuration with a mistake needs it

    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return found[0] if found else None
