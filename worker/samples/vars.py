"""Variables: ``proc.``, ``sess.``, ``txn.``, ``req.``, ``res.`` (and ``check.``) scopes.

One ``Vars`` object per transaction points at the process-wide store and at the
session's store, and owns the transaction, request and response stores.  The
``var()`` fetch, the ``set-var``/``unset-var`` actions and converters, and Lua's
``txn:set_var``/``get_var`` all go through it, with typed samples.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import SampleError
from .types import Sample, SampleType, to_text

_new_object = object.__new__
SCOPES = ("proc", "sess", "txn", "req", "res", "check")
_BAD_CHAR = re.compile(r"[^A-Za-z0-9._]")

Store = dict[str, Sample | None]  # None: a declared ``proc.`` variable without value
DECLARED: set[str] = set()
"""Every variable name parsed so far: the configuration's (before the fork) and those Lua has set, up to
DECLARED_MAX: a script that makes names from request data must not grow a worker without bound."""
DECLARED_MAX = 10_000


@dataclass(frozen=True, slots=True)
class VarName:
    """A checked variable name: its scope and the full dotted name."""

    scope: str
    name: str


@functools.lru_cache(maxsize=4096)
def parse_var_name(text: str) -> VarName:
    """Check a variable name as HAProxy does; raise SampleError with its wording."""
    scope, dot, rest = text.partition(".")
    if not dot or scope not in SCOPES or not rest:
        raise SampleError(
            f"invalid variable name '{text}'. A variable name must be start by its scope. "
            "The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'."
        )
    bad = _BAD_CHAR.search(rest)
    if bad:
        raise SampleError(f"invalid syntax at char '{rest[bad.start() :]}'")
    if len(DECLARED) < DECLARED_MAX:
        DECLARED.add(text)
    return VarName(scope, text)


CONDITIONS = ("ifexists", "ifnotexists", "ifempty", "ifnotempty", "ifset", "ifnotset", "ifgt", "iflt")


def check_conditions(words: Iterable[str]) -> tuple[str, ...]:
    """Validate set-var conditions (at most four, from CONDITIONS)."""
    conds = tuple(words)
    if len(conds) > 4:
        raise SampleError("too many conditions (at most 4)")
    for cond in conds:
        if cond not in CONDITIONS:
            raise SampleError(f"unknown condition '{cond}'")
    return conds


def _is_empty(smp: Sample) -> bool:
    return smp.type in (SampleType.STR, SampleType.BIN, SampleType.METH) and not smp.value


class Vars:
    """The variables one transaction sees.

    The process-wide and session stores are shared; the transaction's own scopes (txn, req, res,
    check) share one store, made when a first one is set (most transactions set none, and one is made per
    request): a variable's full name says its scope, so one store serves them all."""

    __slots__ = ("_own", "_proc", "_sess")

    def __init__(self, proc: Store | None = None, sess: Store | None = None) -> None:
        self._proc: Store = proc if proc is not None else {}
        self._sess: Store = sess if sess is not None else {}
        self._own: Store | None = None

    def new_transaction(self) -> Vars:
        """The variables of the next transaction on the same session (one per request: built without
        ``__init__``'s defaults, whose stores are known here)."""
        new = _new_object(Vars)
        new._proc = self._proc
        new._sess = self._sess
        new._own = None
        return new

    def next_transaction(self) -> Vars:
        """The variables of the transaction after this one, once this one is over: this object again when
        its transaction made no store of its own (nothing to drop), else a new one."""
        return self if self._own is None else self.new_transaction()

    def start_response(self) -> None:
        """Drop request-scoped variables once response processing starts."""
        own = self._own
        if own:
            for name in [name for name in own if name.startswith("req.")]:
                del own[name]

    def _store(self, scope: str, create: bool) -> Store | None:
        """The store of *scope*; the transaction's own one is made when *create* asks (None until then)."""
        if scope == "proc":
            return self._proc
        if scope == "sess":
            return self._sess
        own = self._own
        if own is None and create:
            own = self._own = {}
        return own

    def get(self, name: str | VarName) -> Sample | None:
        var = parse_var_name(name) if isinstance(name, str) else name
        store = self._store(var.scope, False)
        return None if store is None else store.get(var.name)

    def set(self, name: str | VarName, smp: Sample, conditions: tuple[str, ...] = ()) -> bool:
        """Store *smp*; with set-var conditions, only when they all hold. Returns whether it was set."""
        var = parse_var_name(name) if isinstance(name, str) else name
        store: Store = self._store(var.scope, True)  # type: ignore[assignment]
        if conditions and not self._conditions_hold(var.name in store, store.get(var.name), smp, conditions):
            return False
        store[var.name] = smp
        return True

    def set_if_exists(self, name: str, smp: Sample) -> bool:
        """Lua's set_var with ifexist, as haproxy 2.6: a ``proc.`` variable exists once a name is used elsewhere
        (the configuration) and is never created here; the other scopes are set as usual."""
        declared = name in DECLARED
        var = parse_var_name(name)
        return (var.scope != "proc" or declared) and self.set(var, smp)

    def unset(self, name: str | VarName) -> None:
        """Forget a variable; a ``proc.`` one declared by the configuration stays, without value."""
        var = parse_var_name(name) if isinstance(name, str) else name
        store = self._store(var.scope, False)
        if store is None:
            return
        if var.scope == "proc" and var.name in store:
            store[var.name] = None
        else:
            store.pop(var.name, None)

    @staticmethod
    def _conditions_hold(exists: bool, old: Sample | None, new: Sample, conditions: tuple[str, ...]) -> bool:
        """ifexists: the variable exists (``proc.`` ones named in the configuration always do);
        ifset: it holds a value."""
        for cond in conditions:
            if cond == "ifexists":
                ok = exists
            elif cond == "ifnotexists":
                ok = not exists
            elif cond == "ifset":
                ok = old is not None
            elif cond == "ifnotset":
                ok = old is None
            elif cond == "ifempty":
                ok = _is_empty(new)
            elif cond == "ifnotempty":
                ok = not _is_empty(new)
            elif old is None or old.type is not SampleType.SINT or new.type is not SampleType.SINT:
                ok = True
            elif cond == "ifgt":
                ok = old.value > new.value
            else:
                ok = old.value < new.value
            if not ok:
                return False
        return True


_CLI_TYPES = {
    SampleType.BOOL: "bool", SampleType.SINT: "sint", SampleType.IPV4: "ipv4", SampleType.IPV6: "ipv6",
    SampleType.STR: "str", SampleType.BIN: "bin", SampleType.METH: "meth",
}


def describe(store: Store) -> dict[str, str]:
    """``get var`` lines of every variable holding a value: ``name: type=sint value=<5>``."""
    out: dict[str, str] = {}
    for name, smp in store.items():
        if smp is None:
            continue
        # HAProxy prints the value as a C string: binary data stops at its first NUL byte.
        text = smp.value.split(b"\0", 1)[0].decode("latin-1") if smp.type is SampleType.BIN else to_text(smp)
        out[name] = f"{name}: type={_CLI_TYPES.get(smp.type, smp.type.label)} value=<{text}>"
    return out
