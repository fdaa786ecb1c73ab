"""Variables: scopes, sharing between transactions, typed values and set-var conditions."""

from __future__ import annotations

import pytest

from luaproxy.worker.samples import (
    Sample,
    SampleError,
    SampleRegistry,
    SampleType,
    Vars,
    parse_expr,
    parse_var_name,
    to_text,
)
from luaproxy.worker.samples.vars import check_conditions
from tests.samples.streamkit import Stream

T = SampleType


def test_scopes_and_sharing() -> None:
    proc: dict[str, Sample] = {}
    sess: dict[str, Sample] = {}
    first = Vars(proc, sess)
    for scope in ("proc", "sess", "txn", "req", "res"):
        first.set(f"{scope}.x", Sample(T.STR, scope))
    second = first.new_transaction()
    assert to_text(second.get("proc.x")) == "proc"
    assert to_text(second.get("sess.x")) == "sess"
    assert second.get("txn.x") is None
    assert second.get("req.x") is None
    other_session = Vars(proc)
    assert other_session.get("sess.x") is None
    assert to_text(other_session.get("proc.x")) == "proc"
    first.start_response()
    assert first.get("req.x") is None
    assert to_text(first.get("res.x")) == "res"
    assert to_text(first.get("txn.x")) == "txn"  # one store holds the transaction's scopes: only req. goes
    first.unset("txn.x")
    assert first.get("txn.x") is None
    first.unset("txn.never")


def test_values_keep_their_type(registry: SampleRegistry) -> None:
    ctx = Stream()
    ctx.vars.set("txn.ip", Sample(T.IPV4, bytes([1, 2, 3, 4])))
    ctx.vars.set("txn.n", Sample(T.SINT, 41))
    assert parse_expr("var(txn.ip)", registry).evaluate(ctx) == Sample(T.IPV4, bytes([1, 2, 3, 4]))
    assert to_text(parse_expr("var(txn.n),add(1)", registry).evaluate(ctx)) == "42"
    assert to_text(parse_expr("var(txn.none,fallback)", registry).evaluate(ctx)) == "fallback"
    assert parse_expr("var(txn.none)", registry).evaluate(ctx) is None


@pytest.mark.parametrize(
    ("conditions", "old", "new", "stored"),
    [
        (("ifexists",), None, 1, False),
        (("ifexists",), 5, 1, True),
        (("ifnotexists",), 5, 1, False),
        (("ifnotset",), None, 1, True),
        (("ifgt",), 5, 1, True),
        (("ifgt",), 5, 9, False),
        (("iflt",), 5, 9, True),
        (("ifempty",), None, "", True),
        (("ifnotempty",), None, "", False),
        (("ifnotempty", "ifnotexists"), None, "x", True),
    ],
)
def test_set_var_conditions(conditions: tuple[str, ...], old: object, new: object, stored: bool) -> None:
    def smp(value: object) -> Sample:
        return Sample(T.SINT, value) if isinstance(value, int) else Sample(T.STR, value)

    variables = Vars()
    if old is not None:
        variables.set("txn.v", smp(old))
    assert variables.set("txn.v", smp(new), conditions) is stored
    assert (variables.get("txn.v") == smp(new)) is stored


def test_set_if_exists_for_lua() -> None:
    """haproxy 2.6: with ifexist a proc. variable is set only when the configuration names it; others always."""
    variables = Vars()
    assert variables.set_if_exists("txn.undeclared_v", Sample(T.SINT, 1))
    assert not variables.set_if_exists("proc.undeclared_v", Sample(T.SINT, 1))
    parse_var_name("proc.declared_v")
    assert variables.set_if_exists("proc.declared_v", Sample(T.SINT, 1))


@pytest.mark.parametrize("name", ["foo", "txn", "txn.", "nope.x", "txn.a-b", "txn.a b"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(SampleError):
        parse_var_name(name)
    with pytest.raises(SampleError):
        Vars().get(name)


def test_set_var_converter_conditions_are_checked(registry: SampleRegistry) -> None:
    with pytest.raises(SampleError, match="unknown condition 'ifbogus'"):
        parse_expr("str(a),set-var(txn.x,ifbogus)", registry)
    with pytest.raises(SampleError, match="expected '\\)' before ',ifset\\)'"):
        parse_expr("str(a),set-var(txn.x,ifset,ifset,ifset,ifset,ifset)", registry)
    with pytest.raises(SampleError, match="too many conditions"):
        check_conditions(["ifset"] * 5)
    assert check_conditions(["ifset", "ifgt"]) == ("ifset", "ifgt")


def test_declared_proc_variables_exist_without_a_value() -> None:
    """As HAProxy's cond_set_var test expects: a proc. variable named by the configuration
    exists from the start (ifexists holds, ifnotexists does not) yet has no value (ifset fails),
    and unset-var leaves it existing."""
    proc: dict[str, Sample | None] = {"proc.declared": None}
    ctx = Stream(vars=Vars(proc, {}))
    value = Sample(SampleType.SINT, 12)
    assert ctx.vars.get("proc.declared") is None
    assert not ctx.vars.set("proc.declared", value, ("ifset",))
    assert not ctx.vars.set("proc.declared", value, ("ifnotexists",))
    assert ctx.vars.set("proc.declared", value, ("ifexists",))
    assert ctx.vars.get("proc.declared") == value
    ctx.vars.unset("proc.declared")
    assert "proc.declared" in proc and ctx.vars.get("proc.declared") is None
    assert ctx.vars.set("proc.declared", value, ("ifnotset",))
    assert not ctx.vars.set("txn.other", value, ("ifexists",))
    ctx.vars.set("txn.other", value)
    ctx.vars.unset("txn.other")
    assert ctx.vars.set("txn.other", value, ("ifnotexists",))
