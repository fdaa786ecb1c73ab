"""Stick-table fetches and converters (HAProxy 7.3.2 and 7.3.3): sc_*, sc0_*..sc2_*, src_*, table_*.

Each counter is declared once in ``COUNTERS`` (name, how to read it, whether
it changes the entry) and the five families are generated from it, as HAProxy
does with its ``smp_fetch_sc_*`` functions.  A ``sc*`` fetch reads the entry
the stream tracks (no sample when nothing is tracked); a ``src_*`` fetch looks
the client address up (0 when absent); a ``table_*`` converter looks its input
up (0 when absent).  Every family gives no sample when the table does not store
the data type.  Tables are found by proxy name at run time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from ..sticktable.schema import MAX_ARRAY
from ..sticktable.table import SharedTable
from ..sticktable.tracking import MAX_COUNTERS, trackers_of
from .args import ArgType, arg_spec
from .context import SampleContext
from .registry import BareFn, ConverterDef, FetchDef, FetchFn, converter, fetch
from .types import Sample, SampleType, ip_sample

T = SampleType
A = ArgType
Reader = Callable[[SharedTable, int], int | None]
NEEDS: dict[Reader, str] = {}
"""The data type each reader reads (a missing key reads 0 only when the table stores it)."""
SC_VALUES: dict[BareFn, str] = {}
"""The data type each ``sc_<value>(<ctr>)`` bare fetch reads from the entry counter <ctr> tracks: a
``track-scN`` rule followed by a check of it may read the value itself (``actions_stick.fuse``)."""


def _needs(name: str, reader: Reader) -> Reader:
    NEEDS[reader] = name
    return reader


def _value(name: str) -> Reader:
    return _needs(name, lambda table, idx: table.value(idx, name))


def _kbytes(name: str) -> Reader:
    def read(table: SharedTable, idx: int) -> int | None:
        value = table.value(idx, name)
        return None if value is None else value >> 10

    return _needs(name, read)


def _inc(event: str) -> Reader:
    return _needs(event, lambda table, idx: table.inc_value(idx, event))


def _clear(name: str) -> Reader:
    def clear(table: SharedTable, idx: int) -> int | None:
        before = table.value(idx, name)
        if before is not None:
            table.set_value(idx, name, 0)
        return before

    return _needs(name, clear)


def _trackers(table: SharedTable, idx: int) -> int:
    return table.refs(idx)


def _updt_conn_cnt(table: SharedTable, idx: int) -> int | None:
    table.count(idx, "conn")
    return table.value(idx, "conn_cnt")


NEEDS[_updt_conn_cnt] = "conn_cnt"


# name -> (reader, creates the src entry when missing, has a table_* converter)
COUNTERS: dict[str, tuple[Reader, bool, bool]] = {
    "bytes_in_rate": (_value("bytes_in_rate"), False, True),
    "bytes_out_rate": (_value("bytes_out_rate"), False, True),
    "clr_gpc0": (_clear("gpc0"), True, False),
    "clr_gpc1": (_clear("gpc1"), True, False),
    "conn_cnt": (_value("conn_cnt"), False, True),
    "conn_cur": (_value("conn_cur"), False, True),
    "conn_rate": (_value("conn_rate"), False, True),
    "get_gpc0": (_value("gpc0"), False, False),
    "get_gpc1": (_value("gpc1"), False, False),
    "get_gpt0": (_value("gpt0"), False, False),
    "gpc0_rate": (_value("gpc0_rate"), False, True),
    "gpc1_rate": (_value("gpc1_rate"), False, True),
    "http_err_cnt": (_value("http_err_cnt"), False, True),
    "http_err_rate": (_value("http_err_rate"), False, True),
    "http_fail_cnt": (_value("http_fail_cnt"), False, True),
    "http_fail_rate": (_value("http_fail_rate"), False, True),
    "http_req_cnt": (_value("http_req_cnt"), False, True),
    "http_req_rate": (_value("http_req_rate"), False, True),
    "inc_gpc0": (_inc("gpc0"), True, False),
    "inc_gpc1": (_inc("gpc1"), True, False),
    "kbytes_in": (_kbytes("bytes_in_cnt"), False, True),
    "kbytes_out": (_kbytes("bytes_out_cnt"), False, True),
    "sess_cnt": (_value("sess_cnt"), False, True),
    "sess_rate": (_value("sess_rate"), False, True),
    "trackers": (_trackers, False, True),
}


@functools.cache
def _element(family: str, i: int) -> Reader:
    """The reader of one array element (HAProxy 2.5+'s ``gpc(<idx>)``...): made once per element."""
    kind, _, array = family.partition("_")
    if family == "gpc_rate":
        return _value(f"gpc_rate[{i}]")
    if kind == "inc":
        return _inc(f"gpc[{i}]")
    if kind == "clr":
        return _clear(f"gpc[{i}]")
    return _value(f"{array}[{i}]")


INDEXED = ("get_gpc", "inc_gpc", "clr_gpc", "gpc_rate", "get_gpt")
"""The array fetches: ``sc_get_gpc(<idx>,<ctr>[,<table>])``, ``src_get_gpc(<idx>[,<table>])``..., reading
element <idx> only (an array type the table does not store gives no sample, as in HAProxy)."""
TABLE_ONLY: dict[str, Reader] = {
    "gpc0": _value("gpc0"),
    "gpc1": _value("gpc1"),
    "gpt0": _value("gpt0"),
    "server_id": _value("server_id"),
}


def table_named(ctx: Any, name: str | None) -> SharedTable | None:
    """A table by proxy name, or the current proxy's table (the backend's once chosen, else the frontend's)."""
    if name:
        return ctx.frontend.tables.get(name)
    backend = getattr(ctx, "backend", None)
    table = getattr(backend, "table", None) if backend is not None else None
    return table if table is not None else getattr(ctx.frontend, "table", None)


def _arg(args: Sequence[Any], i: int) -> Any:
    """An optional argument, None when not given."""
    return args[i] if len(args) > i else None


def _int(value: int | None) -> Sample | None:
    return None if value is None else Sample(T.SINT, value)


def _tracked(ctx: Any, n: int, table_name: str | None) -> tuple[SharedTable, int] | None:
    """The entry counter *n* tracks, or the same key in another table (no sample when absent there)."""
    trackers = trackers_of(ctx)
    tracked = trackers.get(n) if trackers is not None else None
    if tracked is None:
        return None
    if not table_name:
        return tracked.table, tracked.idx
    other = table_named(ctx, table_name)
    if other is None:
        return None
    idx = other.lookup(tracked.table.key(tracked.idx))
    return (other, idx) if idx >= 0 else None


def _sc(reader: Reader, fixed: int | None) -> Callable[[SampleContext, Sequence[Any]], Sample | None]:
    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        n, table_name = (fixed, _arg(args, 0)) if fixed is not None else (args[0], _arg(args, 1))
        found = _tracked(ctx, n, table_name)
        return None if found is None else _int(reader(*found))

    return run


def _sc_value(name: str, run: Callable[[SampleContext, Sequence[Any]], Sample | None]) -> tuple[FetchFn, BareFn]:
    """``sc_<value>(<ctr>)``, the common case: the value read from the entry the stream tracks through
    its table's reader of *name*, without detours (*run*: the general form, with a table named); and
    its bare form, the integer itself (what an ACL compares, without a Sample)."""
    def bare(ctx: SampleContext, args: Sequence[Any]) -> int | None:
        n = args[0]
        if len(args) > 1 or not 0 <= n < MAX_COUNTERS:
            smp = run(ctx, args)
            return None if smp is None else smp.value
        try:
            tracked = ctx.stkctr.slots[n]  # type: ignore[attr-defined]
        except AttributeError:  # no stick counters in this context
            return None
        if tracked is None:
            return None
        try:
            read = tracked.table.readers[name]
        except KeyError:
            read = tracked.table.reader(name)
        return None if read is None else read(tracked.base)

    def value_of(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        value = bare(ctx, args)
        return None if value is None else Sample(T.SINT, value)

    SC_VALUES[bare] = name
    return value_of, bare


def _sc_indexed(family: str) -> Callable[[SampleContext, Sequence[Any]], Sample | None]:
    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        if not 0 <= args[0] < MAX_ARRAY:
            return None
        found = _tracked(ctx, args[1], _arg(args, 2))
        return None if found is None else _int(_element(family, args[0])(*found))

    return run


def _src_key(ctx: Any, table: SharedTable) -> bytes | None:
    smp = ip_sample(ctx.src)
    return None if smp is None else table.spec.key_of(smp)


def _src(reader: Reader | None, creates: bool, family: str = "") -> Callable[..., Sample | None]:
    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        if family:
            if not 0 <= args[0] < MAX_ARRAY:
                return None
            read, table_name = _element(family, args[0]), _arg(args, 1)
        else:
            read, table_name = reader, _arg(args, 0)
        table = table_named(ctx, table_name)
        if table is None:
            return None
        key = _src_key(ctx, table)
        if key is None:
            return None
        idx = table.get_or_create(key) if creates else table.lookup(key)
        if idx < 0:
            needs = NEEDS.get(read)
            return Sample(T.SINT, 0) if needs is None or needs in table.slots else None
        return _int(read(table, idx))

    return run


def _tracked_flag(fixed: int | None) -> Callable[[SampleContext, Sequence[Any]], Sample | None]:
    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        n, table_name = (fixed, _arg(args, 0)) if fixed is not None else (args[0], _arg(args, 1))
        trackers = trackers_of(ctx)
        tracked = trackers.get(n) if trackers is not None else None
        ok = tracked is not None and (not table_name or tracked.table is table_named(ctx, table_name))
        return Sample(T.BOOL, ok)

    return run


def _table_stat(which: str) -> Callable[[SampleContext, Sequence[Any]], Sample | None]:
    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        table = table_named(ctx, _arg(args, 0))
        if table is None:
            return None
        return Sample(T.SINT, table.available() if which == "avl" else table.used())

    return run


def _conv(reader: Reader) -> Callable[[SampleContext, Sample, Sequence[Any]], Sample | None]:
    def run(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
        table = table_named(ctx, args[-1])
        key = table.spec.key_of(smp) if table is not None else None
        if key is None:
            return None
        idx = table.lookup(key)
        if idx < 0:
            return Sample(T.SINT, 0)
        return _int(reader(table, idx))

    return run


def _conv_indexed(family: str) -> Callable[[SampleContext, Sample, Sequence[Any]], Sample | None]:
    def run(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
        if not 0 <= args[0] < MAX_ARRAY:
            return None
        return _conv(_element(family, args[0]))(ctx, smp, args[1:])

    return run


def _in_table(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    table = table_named(ctx, args[0])
    key = table.spec.key_of(smp) if table is not None else None
    return Sample(T.BOOL, key is not None and table.lookup(key) >= 0)


def _doc(name: str) -> str:
    return name.replace("_", " ")


def _build() -> tuple[list[FetchDef], list[ConverterDef]]:
    S = "stick tables"
    sc_args = arg_spec(A.SINT, A.STR, required=1)
    opt_table = arg_spec(A.STR, required=0)
    fetches: list[FetchDef] = []
    for name, (reader, creates, _conv_too) in COUNTERS.items():
        what = _doc(name)
        plain = NEEDS.get(reader) if reader is COUNTERS[name][0] and name == NEEDS.get(reader) else ""
        fn, bare = _sc_value(plain, _sc(reader, None)) if plain else (_sc(reader, None), None)
        fetches.append(fetch(f"sc_{name}", fn, T.SINT, f"{what} of the entry stick counter <ctr> tracks.", sc_args,
                             section=S, bare=bare))
        for n in range(3):
            fetches.append(fetch(f"sc{n}_{name}", _sc(reader, n), T.SINT,
                                 f"{what} of the entry stick counter {n} tracks.", opt_table, section=S))
        fetches.append(fetch(f"src_{name}", _src(reader, creates), T.SINT,
                             f"{what} of the client address's entry.", opt_table, section=S))
    for name in INDEXED:
        fetches.append(fetch(f"sc_{name}", _sc_indexed(name), T.SINT,
                             f"{_doc(name)} <idx> of the entry stick counter <ctr> tracks.",
                             arg_spec(A.SINT, A.SINT, A.STR, required=2), section=S))
        fetches.append(fetch(f"src_{name}", _src(None, name in ("inc_gpc", "clr_gpc"), name), T.SINT,
                             f"{_doc(name)} <idx> of the client address's entry.",
                             arg_spec(A.SINT, A.STR, required=1), section=S))
    fetches.append(fetch("sc_tracked", _tracked_flag(None), T.BOOL, "Whether stick counter <ctr> tracks an entry.",
                         sc_args, section=S))
    for n in range(3):
        fetches.append(fetch(f"sc{n}_tracked", _tracked_flag(n), T.BOOL,
                             f"Whether stick counter {n} tracks an entry.", opt_table, section=S))
    fetches.append(fetch("src_updt_conn_cnt", _src(_updt_conn_cnt, True), T.SINT,
                         "Counts a connection for the client address's entry and returns conn_cnt.",
                         opt_table, section=S))
    fetches.append(fetch("table_avl", _table_stat("avl"), T.SINT, "Free entries in the table.", opt_table,
                         section=S))
    fetches.append(fetch("table_cnt", _table_stat("cnt"), T.SINT, "Used entries in the table.", opt_table,
                         section=S))
    converters: list[ConverterDef] = []
    table_arg = arg_spec(A.STR)
    table_readers: dict[str, Reader] = {
        name: reader for name, (reader, _c, conv_too) in COUNTERS.items() if conv_too
    }
    table_readers.update(TABLE_ONLY)
    for name, reader in sorted(table_readers.items()):
        converters.append(converter(f"table_{name}", _conv(reader), T.ANY, T.SINT,
                                    f"{_doc(name)} of the input's entry in <table> (0 when absent).", table_arg))
    for name, family in (("gpc", "get_gpc"), ("gpc_rate", "gpc_rate"), ("gpt", "get_gpt")):
        converters.append(converter(f"table_{name}", _conv_indexed(family), T.ANY, T.SINT,
                                    f"{_doc(name)} <idx> of the input's entry in <table>.",
                                    arg_spec(A.SINT, A.STR)))
    converters.append(converter("in_table", _in_table, T.ANY, T.BOOL, "Whether the input is a key of <table>.",
                                table_arg))
    return fetches, converters


FETCHES, CONVERTERS = _build()
