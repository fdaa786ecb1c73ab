"""Evaluate one rule set in order: the loop shared by TCP and HTTP streams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..conn import inbound
from .verdict import ACCEPT, CONTINUE, DONE, Verdict


def run_rules(rules: list[Any], txn: Any, before: Callable[[Any], None] | None = None,
              more: Callable[[Any], bool] | None = None) -> Verdict:
    """ACCEPT when every rule let the transaction through, else the first stopping verdict.

    *before* runs ahead of each rule (TCP inspect-delay waits for content there).  When a
    condition used data that may still arrive (``txn.incomplete``), *more* may wait for
    it and return True to have the condition evaluated again (HAProxy's MAY_CHANGE); the same holds
    for an action whose sample lacked data and that did nothing with it.
    """
    for rule in rules:
        if before is not None:
            before(rule)
        if more is not None:
            txn.incomplete = False
        condition = rule.condition  # Rule.applies, inline (a call less per rule)
        applies = condition is None or condition.matches(txn, rule.response)
        while more is not None and txn.incomplete and more(rule):
            txn.incomplete = False
            applies = rule.applies(txn)
        if not applies:
            continue
        action = rule.action  # a field, not a method: the interpreter's method load of it is not specialised
        verdict = action(txn)
        while more is not None and verdict is CONTINUE and txn.incomplete and more(rule):
            txn.incomplete = False  # the action's sample lacked data (track-sc0 url): run it again
            verdict = action(txn)
        if txn.done:
            return DONE
        if verdict is not CONTINUE:
            txn.last_rule = rule.where or None  # last_rule_file/last_rule_line
            return verdict
    return ACCEPT


def run_session_rules(frontend: Any, txn: Any) -> Verdict:
    """``tcp-request connection`` then ``tcp-request session`` rules: once per connection, on what
    is known when it is accepted (an ``accept`` ends only its own rule set, as in HAProxy)."""
    connection_rules = frontend.ruleset("tcp-request connection")
    if connection_rules:  # most frontends have neither set: no loop run per connection for nothing
        verdict = run_rules(connection_rules, txn)
        inbound.note_connection_addresses(txn)
        if verdict is not ACCEPT:
            return verdict
    session_rules = frontend.ruleset("tcp-request session")
    return run_rules(session_rules, txn) if session_rules else ACCEPT
