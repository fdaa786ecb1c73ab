"""Configuration errors that name the file, the line and the fix."""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(Exception):
    """One problem in a configuration file, worded for the operator."""

    def __init__(self, file: str, line: int, message: str, hint: str = "") -> None:
        self.file = file
        self.line = line
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"parsing [{self.file}:{self.line}] : " if self.file else ""
        hint = f" {self.hint}" if self.hint else ""
        return f"{where}{self.message}{hint}"


class ConfigErrors(Exception):
    """Every error found in one pass, so the operator fixes them all at once."""

    def __init__(self, errors: list[ConfigError], warnings: Iterable[str] = ()) -> None:
        self.errors = errors
        self.warnings = list(warnings)
        """What the same pass warned about (haproxy -c prints its warnings along with its errors)."""
        super().__init__("\n".join(str(e) for e in errors))


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """A hint naming the closest known word, or an empty string."""
    import difflib  # only a configuration with a mistake needs it

    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"Did you mean '{close[0]}' maybe ?" if close else ""
