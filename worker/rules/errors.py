"""A rule that cannot be compiled; the config layer adds file and line."""


class RuleError(ValueError):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
