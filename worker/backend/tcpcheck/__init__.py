"""tcp-check: rule sets (``tcp-check`` lines and the protocol checks) and the engine that runs them."""

from collections.abc import Iterable

from .engine import run_rules
from .pki import tls_connect
from .protocols import PROTOCOLS, protocol_rules
from .rules import Connect, RuleSet, compile_rules, parse_rules

CHECK_OPTIONS = ("httpchk", "tcp-check", *PROTOCOLS)
"""The options that choose what a backend's health checks do; the last one in a section wins."""
IMPLICIT_CONNECT = Connect(implicit=True)
"""The connect of a plain check: the server's check address and ``check-ssl`` settings."""


def check_rules(option: tuple[str, ...] | None, tcp_check: Iterable[tuple[str, ...]]) -> RuleSet | None:
    """The rule set for ``option tcp-check`` (with its ``tcp-check`` lines) or a protocol option; None for the
    others (a plain connect, or ``option httpchk``).  Raises ValueError with the reason."""
    if option is None or option[0] == "httpchk":
        return None
    if option[0] == "tcp-check":
        return parse_rules(tcp_check)
    return protocol_rules(option[0], option[1:])


__all__ = ["CHECK_OPTIONS", "IMPLICIT_CONNECT", "RuleSet", "check_rules", "compile_rules", "parse_rules", "run_rules",
           "tls_connect"]
