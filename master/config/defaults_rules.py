"""What a rule written in a ``defaults`` section may not leave implicit (HAProxy 2.6).

A proxy inherits a defaults section's rules, but their arguments are resolved
in the defaults section itself, which has neither servers nor a stick table:
a server argument needs its backend (``srv_conn(be/www)``), and ``track-sc*``
and the ``sc*_``/``src_`` fetches need an explicit table.
"""

from __future__ import annotations

import re

from .errors import ConfigError
from .model import ProxyConf

_SERVER_FETCH = re.compile(r"\bsrv_[a-z_]+\(([^)]*)\)")
_SC_FETCH = re.compile(r"\b(sc_[a-z0-9_]+|sc[0-9]+_[a-z0-9_]+|src_[a-z0-9_]+)(?:\(([^)]*)\))?")
_SC_ARGS_WITH_TABLE = {"sc_": 2, "sc0": 1, "src": 1}
"""How many arguments an ``sc_*``, ``scN_*`` or ``src_*`` fetch has once its table is named."""
_NO_TABLE = frozenset({"src_is_local", "src_port"})


def _needs_table(name: str, args: str | None) -> bool:
    if name in _NO_TABLE:
        return False
    count = len([a for a in (args or "").split(",") if a.strip()])
    key = "sc_" if name.startswith("sc_") else "src" if name.startswith("src") else "sc0"
    return count < _SC_ARGS_WITH_TABLE[key]


def check_defaults_rules(base: ProxyConf) -> list[ConfigError]:
    """One error per rule of *base* whose server or table argument is implicit."""
    errors = []
    for ruleset, rules in base.rules.items():
        for rule in rules:
            text = " ".join(rule.words)
            action = rule.words[0] if rule.words else ""
            if action.startswith("track-sc") and "table" not in rule.split_condition()[0]:
                errors.append(rule.line.error(f"'{ruleset} {action}': a rule of defaults section '{base.name}' "
                                              "needs an explicit table.", f"Write '{action} <key> table <name>'."))
                continue
            for match in _SERVER_FETCH.finditer(text):
                if "/" not in match.group(1):
                    errors.append(rule.line.error(
                        f"'{ruleset}': '{match.group(0)}' in defaults section '{base.name}' names no backend.",
                        "Write '<backend>/<server>'."))
                    break
            else:
                for match in _SC_FETCH.finditer(text):
                    if _needs_table(match.group(1), match.group(2)):
                        errors.append(rule.line.error(
                            f"'{ruleset}': '{match.group(0)}' in defaults section '{base.name}' needs an explicit "
                            "table.", "Name the table in its arguments."))
                        break
    return errors
