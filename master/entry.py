"""The ``luaproxy`` command's entry point: ``-cc`` and ``-v`` answer without loading the proxy.

varnishtest and scripts call ``luaproxy -cc EXPR`` many times per test; importing
gevent, lupa and the whole proxy for each call would cost a second apiece.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "-cc":
        return check_condition(args[1])
    from .__main__ import main as full_main

    return full_main(args)


def check_condition(expression: str) -> int:
    """haproxy -cc: exit 0 if true, 1 if false, 2 (with a message) if the expression is bad."""
    from .config.conditions import ConditionError, evaluate_words

    try:
        return 0 if evaluate_words(expression) else 1
    except ConditionError as exc:
        print(f"luaproxy: -cc: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
