"""Every stick-table fetch and converter on a real shared table: sc*_, src_*, table_*, in_table.

The stream tracks its client address (192.168.1.10) in sc0 of table ``fe``,
which stores every data type; ``st`` is a string table holding ``abc``.
Each case gets fresh tables, since some fetches change the entry
(``inc``, ``clr``, ``updt``).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

import pytest

from luaproxy.worker.samples import SampleRegistry, parse_expr, to_text
from luaproxy.worker.sticktable import DATA_KINDS, Kind, SharedTable, parse_table_args
from luaproxy.worker.sticktable.schema import ARRAYS
from luaproxy.worker.sticktable.tracking import Trackers
from tests.samples.streamkit import Stream

ALL_DATA = ",".join(f"{name}(10s)" if kind is Kind.RATE else name for name, kind in DATA_KINDS.items()
                    if name not in ARRAYS)


@dataclass
class TableProxy:
    name: str
    id: int = 1
    current_conns: int = 0
    servers: list[Any] = field(default_factory=list)
    table: SharedTable | None = None
    tables: dict[str, SharedTable] = field(default_factory=dict)


@dataclass
class TrackingStream(Stream):
    stkctr: Trackers = field(default_factory=Trackers)


def tracking_stream() -> TrackingStream:
    fe_table = SharedTable(parse_table_args("fe", ("type", "ip", "size", "100", "expire", "1m", "store", ALL_DATA)))
    st_table = SharedTable(parse_table_args("st", ("type", "string", "len", "8", "size", "10", "store", "gpc0")))
    tables = {"fe": fe_table, "st": st_table}
    fe = TableProxy("fe", 2, table=fe_table, tables=tables)
    ctx = TrackingStream(frontend=fe, proxies={"fe": fe})  # type: ignore[arg-type]
    ctx.stkctr.track(0, fe_table, socket.inet_aton("192.168.1.10"), session=False, http=True)
    idx = ctx.stkctr.slots[0].idx  # type: ignore[union-attr]
    for name, value in (("gpc0", 5), ("gpc1", 2), ("gpt0", 7), ("server_id", 3)):
        fe_table.set_value(idx, name, value)
    fe_table.count(idx, "bytes_in", 2048)
    fe_table.count(idx, "bytes_out", 1024)
    st_table.set_value(st_table.get_or_create(b"abc"), "gpc0", 4)
    return ctx


VALUES = {
    "bytes_in_rate": "2048", "bytes_out_rate": "1024", "clr_gpc0": "5", "clr_gpc1": "2", "conn_cnt": "1",
    "conn_cur": "1", "conn_rate": "1", "get_gpc0": "5", "get_gpc1": "2", "get_gpt0": "7", "gpc0_rate": "0",
    "gpc1_rate": "0", "http_err_cnt": "0", "http_err_rate": "0", "http_fail_cnt": "0", "http_fail_rate": "0",
    "http_req_cnt": "1", "http_req_rate": "1", "inc_gpc0": "6", "inc_gpc1": "3", "kbytes_in": "2", "kbytes_out": "1",
    "sess_cnt": "1", "sess_rate": "1", "trackers": "1",
}
TABLE_VALUES = {**{k: v for k, v in VALUES.items() if not k.startswith(("clr", "inc", "get"))},
                "gpc0": "5", "gpc1": "2", "gpt0": "7", "server_id": "3"}

STICK_CASES: list[tuple[str, str | None]] = [
    *[(f"sc_{name}(0)", value) for name, value in VALUES.items()],
    *[(f"sc0_{name}", value) for name, value in VALUES.items()],
    *[(f"sc1_{name}", None) for name in VALUES],
    *[(f"sc2_{name}(fe)", None) for name in VALUES],
    *[(f"src_{name}", value) for name, value in VALUES.items()],
    *[(f"str(192.168.1.10),table_{name}(fe)", value) for name, value in TABLE_VALUES.items()],
    *[(f"str(10.9.9.9),table_{name}(fe)", "0") for name in TABLE_VALUES],
    ("sc0_get_gpc0(st)", None),
    ("sc_tracked(0)", "1"),
    ("sc0_tracked", "1"),
    ("sc0_tracked(st)", "0"),
    ("sc1_tracked", "0"),
    ("sc2_tracked", "0"),
    # The array forms on a table that stores no array: no sample (no fallback that way round).
    *[(text, None) for text in ("sc_get_gpc(1,0)", "sc_get_gpt(0,0)", "sc_gpc_rate(0,0)", "sc_inc_gpc(0,0)",
                                "sc_clr_gpc(0,0)", "src_get_gpc(0)", "src_get_gpt(0)", "src_gpc_rate(0)",
                                "src_inc_gpc(0)", "src_clr_gpc(0)")],
    ("src_updt_conn_cnt", "2"),
    ("src_get_gpc0(st)", "0"),
    ("table_avl", "99"),
    ("table_cnt", "1"),
    ("table_cnt(st)", "1"),
    ("table_avl(nope)", None),
    ("str(abc),table_gpc0(st)", "4"),
    ("str(abc),table_http_req_cnt(st)", None),
    ("str(zzz),table_gpc0(st)", "0"),
    ("str(192.168.1.10),table_gpc(0,fe)", None),
    ("str(192.168.1.10),table_gpc_rate(0,fe)", None),
    ("str(192.168.1.10),table_gpt(0,fe)", None),
    ("src,in_table(fe)", "1"),
    ("str(abc),in_table(st)", "1"),
    ("str(1.1.1.1),in_table(fe)", "0"),
]


@pytest.mark.parametrize(("text", "expected"), STICK_CASES, ids=[t for t, _ in STICK_CASES])
def test_stick_sample(text: str, expected: str | None, registry: SampleRegistry) -> None:
    ctx = tracking_stream()
    assert to_text(parse_expr(text, registry).evaluate(ctx)) == expected


def array_stream() -> TrackingStream:
    """sc0 tracks 192.168.1.10 in ``ar``, which stores the arrays (gpc[0]=5, gpc[1]=2, gpt[0]=7)."""
    table = SharedTable(parse_table_args("ar", ("type", "ip", "size", "10", "store", "gpc(3),gpc_rate(2,10s),gpt(2)")))
    ar = TableProxy("ar", 3, table=table, tables={"ar": table})
    ctx = TrackingStream(frontend=ar, proxies={"ar": ar})  # type: ignore[arg-type]
    ctx.stkctr.track(0, table, socket.inet_aton("192.168.1.10"), session=False, http=True)
    idx = ctx.stkctr.slots[0].idx  # type: ignore[union-attr]
    for name, value in (("gpc[0]", 5), ("gpc[1]", 2), ("gpt[0]", 7)):
        table.set_value(idx, name, value)
    return ctx


ARRAY_CASES: list[tuple[str, str | None]] = [
    ("sc_get_gpc(1,0)", "2"),
    ("sc_get_gpc(2,0)", "0"),
    ("sc_get_gpc(3,0)", None),
    ("sc_get_gpt(0,0)", "7"),
    ("sc_gpc_rate(0,0)", "0"),
    ("sc_inc_gpc(0,0)", "6"),
    ("sc_inc_gpc(2,0)", "1"),
    ("sc_clr_gpc(1,0)", "2"),
    ("sc_get_gpc(0,1)", None),
    ("src_get_gpc(0)", "5"),
    ("src_get_gpc(1,ar)", "2"),
    ("src_get_gpt(0)", "7"),
    ("src_gpc_rate(0)", "0"),
    ("src_inc_gpc(1)", "3"),
    ("src_clr_gpc(0)", "5"),
    ("str(192.168.1.10),table_gpc(0,ar)", "5"),
    ("str(192.168.1.10),table_gpc(1,ar)", "2"),
    ("str(192.168.1.10),table_gpc_rate(0,ar)", "0"),
    ("str(192.168.1.10),table_gpt(0,ar)", "7"),
    ("str(192.168.1.10),table_gpt(2,ar)", None),
    ("str(10.0.0.1),table_gpc(0,ar)", "0"),
    # The older names read and count the array's first elements, as haproxy 2.6 falls back on them.
    ("sc0_get_gpc0", "5"),
    ("sc0_get_gpc1", "2"),
    ("sc0_get_gpt0", "7"),
    ("sc0_inc_gpc1", "3"),
    ("sc0_gpc1_rate", "0"),
]


@pytest.mark.parametrize(("text", "expected"), ARRAY_CASES, ids=[t for t, _ in ARRAY_CASES])
def test_array_sample(text: str, expected: str | None, registry: SampleRegistry) -> None:
    assert to_text(parse_expr(text, registry).evaluate(array_stream())) == expected


def test_array_counts_its_rate(registry: SampleRegistry) -> None:
    ctx = array_stream()
    for _ in range(3):
        parse_expr("sc_inc_gpc(1,0)", registry).evaluate(ctx)
    assert to_text(parse_expr("sc_gpc_rate(1,0)", registry).evaluate(ctx)) == "3"
    assert to_text(parse_expr("sc0_gpc1_rate", registry).evaluate(ctx)) == "3"
    assert to_text(parse_expr("sc_get_gpc(1,0)", registry).evaluate(ctx)) == "5"


def test_changes_stay_in_the_shared_table(registry: SampleRegistry) -> None:
    ctx = tracking_stream()
    parse_expr("sc0_inc_gpc0", registry).evaluate(ctx)
    parse_expr("src_inc_gpc0", registry).evaluate(ctx)
    assert to_text(parse_expr("sc0_get_gpc0", registry).evaluate(ctx)) == "7"
    assert to_text(parse_expr("sc0_clr_gpc0", registry).evaluate(ctx)) == "7"
    assert to_text(parse_expr("src_get_gpc0", registry).evaluate(ctx)) == "0"
