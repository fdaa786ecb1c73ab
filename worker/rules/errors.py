"""A rule that cannot be compiled; the config layer adds file and line."""


from collections.abc import Iterable


class RuleError(ValueError):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def unknown_action(name: str, known: Iterable[str], extra: str) -> RuleError:
    """The error for an action keyword nobody declared, with the closest one as a hint."""
    import difflib  # only a configuration with a mistake needs it

    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"Did you mean '{close[0]}' maybe ?" if close else f"Known actions: {', '.join(names)}, {extra}."
    return RuleError(f"unknown action '{name}'.", hint)
