"""Stick-counter actions: track-sc0/1/2, sc-inc-gpc0/1, sc-set-gpt0, sc-inc-gpc(N,sc), sc-set-gpt(N,sc), and
http-request tarpit.

Shared by the ``tcp-request connection|session|content`` and ``http-request``
(and ``http-response`` for the sc-* ones) parsers.  The environment resolves
table names and sample expressions, so this module needs no configuration.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import Any, Protocol

import gevent

from ..http.pages import error_page
from ..proxy import Rule
from ..samples.fetch_sticktable import SC_VALUES
from ..samples.library import PatternRef
from ..samples.patterns import Method, parse_int_range
from ..sticktable.schema import MAX_ARRAY
from ..sticktable.table import SharedTable
from ..sticktable.tracking import EVENTS, HTTP_EVENTS
from .errors import RuleError
from .verdict import CONTINUE, REJECT, Verdict

Action = Callable[[Any], Verdict]

_TRACK = re.compile(r"^track-sc([0-9]+)$")
_SC = re.compile(r"^(sc-inc-gpc[01]|sc-set-gpt0)\(([0-9]+)\)$")
_SC_ARRAY = re.compile(r"^(sc-inc-gpc|sc-set-gpt)\(([0-9]+),([0-9]+)\)$")
SESSION_RULESETS = ("tcp-request connection", "tcp-request session")
_KNOWN_KEYS = 4096
_NEVER = 1 << 63
"""Above any rate: what an empty list's least match is."""
FUSER = "fused_with"
"""The attribute by which an http-request track-sc action (a function) holds the maker of its fused
form with the next rule (``fuse``); other actions, Lua's among them, have none."""


class StickEnv(Protocol):
    ruleset: str

    def expression(self, text: str) -> Any: ...

    def stick_table(self, name: str | None) -> SharedTable: ...


def parse(name: str, args: tuple[str, ...], env: StickEnv) -> Action | None:
    """The action for a stick keyword, or None when *name* is not one."""
    if m := _TRACK.match(name):
        return _track(int(m.group(1)), args, env)
    if m := _SC.match(name):
        return _sc_action(m.group(1), int(m.group(2)), args, env)
    if m := _SC_ARRAY.match(name):
        element = int(m.group(2))
        if element >= MAX_ARRAY:
            raise RuleError(f"'{name}': invalid index {element}, the arrays hold at most {MAX_ARRAY} elements.")
        array = "gpc" if m.group(1) == "sc-inc-gpc" else "gpt"
        return _sc_action(m.group(1), int(m.group(3)), args, env, f"{array}[{element}]")
    if name.startswith(("sc-inc-gpc(", "sc-set-gpt(")):
        raise RuleError(f"'{name}': expected '{name.partition('(')[0]}(<idx>,<sc>)', e.g. "
                        f"'{name.partition('(')[0]}(0,0)'.")
    return None


def _counter(n: int, keyword: str) -> int:
    if n > 2:
        raise RuleError(f"'{keyword}': stick counter {n} is out of range, luaproxy tracks sc0 to sc2.")
    return n


def _track(n: int, args: tuple[str, ...], env: StickEnv) -> Action:
    _counter(n, f"track-sc{n}")
    if not args:
        raise RuleError(f"'track-sc{n}' expects a sample expression, e.g. 'track-sc{n} src'.")
    table_name = None
    if len(args) == 3 and args[1] == "table":
        table_name = args[2]
    elif len(args) != 1:
        raise RuleError(f"'track-sc{n}' expects '<key> [table <table>]', got '{' '.join(args)}'.")
    expr = env.expression(args[0])
    table = env.stick_table(table_name)
    session = env.ruleset in SESSION_RULESETS
    per_request = env.ruleset in ("http-request", "tcp-request content")
    spec = table.spec

    def evaluated(txn: Any) -> bytes | None:
        smp = expr.evaluate(txn)
        return spec.key_of(smp) if smp is not None else None

    known: dict[str, bytes] = {}  # track-scN src on an ip table: the keys made, by address text
    key_of = evaluated
    by_src = expr.fetch.name == "src" and not expr.converters and spec.key_type.value == "ip"
    if by_src:
        known, key_of = _src_keys(evaluated)
    outside = table.tracker(EVENTS)  # made once: the table's layout is in the function
    in_http = table.tracker(HTTP_EVENTS) if per_request else outside

    def track(txn: Any) -> Verdict:
        trackers = txn.stkctr
        if trackers is None or trackers.slots[n] is not None:
            return CONTINUE
        key = known.get(txn.src)
        if key is None:
            key = key_of(txn)
        if key is not None:
            trackers.track_with(n, table, in_http if txn.http_mode else outside, key, session)
        return CONTINUE

    def fused_with(rule: Rule) -> Action | None:
        """This tracking and the next *rule* as one action, when that rule's condition is one anonymous
        ACL on ``sc_<rate>(n)``, a rate the tracking counts: the tracker reads it under its lock
        (no clock read, lookup or call more) and the ACL's patterns are tried on it here, without
        the layers of a second rule, a condition, a term and a fetch.  Otherwise None."""
        condition = rule.condition
        term = getattr(condition, "term", None)
        name = SC_VALUES.get(term.bare) if term is not None and term.bare is not None else None
        if name is None or rule.response or len(term.expr.args) != 1 or term.expr.args[0] != n:
            return None
        try:
            counting = table.tracker(HTTP_EVENTS, rate=name)
        except ValueError:  # not a rate the tracking counts (or not stored): read by the fetch
            return None
        lists, unless, action = term.lists, condition.unless, rule.action
        ref = lists[0][0] if len(lists) == 1 and getattr(lists[0][1], "method", None) is Method.INT else None
        seen = -1  # the ref's changes when ``lowest`` was derived
        lowest: int | None = None

        def track_then(txn: Any) -> Verdict:
            nonlocal seen, lowest
            trackers = txn.stkctr
            if trackers is None or trackers.slots[n] is not None or not txn.http_mode:
                track(txn)
                return action(txn) if condition.matches(txn, False) else CONTINUE
            tracked = trackers.made[n]
            src = txn.src
            if not by_src or tracked is None or tracked.source is not src or tracked.table is not table:
                key = known.get(src)
                if key is None and (key := key_of(txn)) is None:
                    return action(txn) if condition.matches(txn, False) else CONTINUE
                if tracked is None or tracked.key != key or tracked.table is not table:
                    tracked = trackers.named(n, table, key)
                if by_src:
                    tracked.source = src
            value = counting(tracked.key, tracked)  # Trackers.track_with, inline
            if value < 0:  # the table is full: nothing tracked, nothing to read
                return action(txn) if unless else CONTINUE
            tracked.session = False
            trackers.slots[n] = tracked
            trackers.streamed.append(tracked)
            if ref is not None:  # one list of integer patterns: the least value matching, while it holds
                if ref.changes != seen:
                    seen, lowest = ref.changes, _least_match(ref)
                if lowest is not None:
                    if value >= lowest:
                        return CONTINUE if unless else action(txn)
                    return action(txn) if unless else CONTINUE
            for pats, index in lists:
                if index.lookup(value, pats.curr_ver) is not None:
                    return CONTINUE if unless else action(txn)
            return action(txn) if unless else CONTINUE

        return track_then

    if env.ruleset == "http-request":
        setattr(track, FUSER, fused_with)
    return track


def _least_match(ref: PatternRef) -> int | None:
    """The least integer the list's current patterns match when they match every integer from there
    up (``gt N``, ``ge N``, any ``N:``), else None (the list's index is asked)."""
    ranges = [parse_int_range(entry.key) for entry in ref.entries()]
    if not ranges:
        return _NEVER
    if any(high is not None for _, high in ranges):
        return None
    return min(-_NEVER if low is None else low for low, _ in ranges)


def fuse(rules: list[Rule]) -> list[Rule]:
    """An ``http-request`` rule list where each ``track-scN KEY`` without a condition is one rule with
    the next rule when that one checks the rate just counted (the usual rate limit: ``track-sc0 src``
    then ``deny if { sc_http_req_rate(0) gt 100 }``).  The fused rule keeps the second rule's place
    for ``last_rule`` (tracking never stops the rules)."""
    fused: list[Rule] = []
    for rule in rules:
        last = fused[-1] if fused else None
        maker = getattr(last.action, FUSER, None) if last is not None and last.condition is None else None
        action = maker(rule) if maker is not None else None
        if action is not None:
            fused[-1] = Rule(action, None, rule.response, rule.where)
        else:
            fused.append(rule)
    return fused


def _src_keys(evaluated: Callable[[Any], bytes | None]) -> tuple[dict[str, bytes], Callable[[Any], bytes | None]]:
    """``track-scN src`` on an ip table, the common case: the address text straight to its 4 bytes,
    remembered for the next requests in the dict returned (a few thousand addresses at most: the
    memory stays bounded); an address that is no IPv4 one takes the general path, *evaluated*."""
    known: dict[str, bytes] = {}

    def key_of(txn: Any) -> bytes | None:
        src = txn.src
        try:
            key = socket.inet_pton(socket.AF_INET, src)
        except (OSError, TypeError):
            return evaluated(txn)
        if len(known) >= _KNOWN_KEYS:
            known.clear()
        known[src] = key
        return key

    return known, key_of


def _sc_action(keyword: str, n: int, args: tuple[str, ...], env: StickEnv, element: str = "") -> Action:
    """sc-inc-gpc0/1 and sc-set-gpt0 (*element* empty), or their array forms on *element* (``gpc[2]``)."""
    _counter(n, keyword)
    if keyword.startswith("sc-inc-gpc"):
        if args:
            raise RuleError(f"'{keyword}' takes no argument.")
        event = element or keyword[-4:]

        def inc(txn: Any) -> Verdict:
            tracked = txn.stkctr.get(n) if txn.stkctr is not None else None
            if tracked is not None:
                tracked.table.count(tracked.idx, event)
            return CONTINUE

        return inc
    if len(args) != 1:
        raise RuleError(f"'{keyword}' expects an integer or a sample expression.")
    target = element or "gpt0"
    if re.fullmatch(r"-?[0-9]+", args[0]):
        constant = int(args[0])

        def value(txn: Any) -> int | None:
            return constant
    else:
        expr = env.expression(args[0])

        def value(txn: Any) -> int | None:
            smp = expr.evaluate(txn)
            return int(smp.value) if smp is not None and isinstance(smp.value, int) else None

    def set_gpt0(txn: Any) -> Verdict:
        tracked = txn.stkctr.get(n) if txn.stkctr is not None else None
        if tracked is not None:
            number = value(txn)
            if number is not None:
                tracked.table.set_value(tracked.idx, target, number & 0xFFFFFFFF)
        return CONTINUE

    return set_gpt0


def tarpit(kind: str, args: tuple[str, ...], env: Any) -> Action:
    """``http-request tarpit [deny_status N]``: hold the request for ``timeout tarpit``, then answer (500)."""
    status = 500
    if args[:1] == ("deny_status",) and len(args) == 2 and args[1].isdigit():
        status = int(args[1])
    elif args:
        raise RuleError("'tarpit' expects nothing or 'deny_status <status>'.")

    def tarpit_(txn: Any) -> Verdict:
        proxy = txn.frontend
        delay = proxy.timeout("tarpit") or proxy.timeout("connect") or 0.0
        if delay:
            gevent.sleep(delay)
        txn.reply = error_page(status)
        return REJECT

    return tarpit_
