"""Sample types and HAProxy's implicit casts."""

from __future__ import annotations

import pytest

from luaproxy.worker.samples import Sample, SampleType, cast, from_native, to_native, to_text
from luaproxy.worker.samples.types import can_cast, leading_int, parse_ipv4

T = SampleType

V4 = bytes([1, 2, 3, 4])
MAPPED = bytes(10) + b"\xff\xff" + V4


@pytest.mark.parametrize(
    ("smp", "to", "expected"),
    [
        (Sample(T.STR, "12abc"), T.SINT, Sample(T.SINT, 12)),
        (Sample(T.STR, "-12"), T.SINT, Sample(T.SINT, -12)),
        (Sample(T.STR, "+7"), T.SINT, Sample(T.SINT, 7)),
        (Sample(T.STR, "abc"), T.SINT, Sample(T.SINT, 0)),
        (Sample(T.STR, " 12"), T.SINT, Sample(T.SINT, 0)),
        (Sample(T.STR, ""), T.SINT, None),
        (Sample(T.STR, "99999999999999999999"), T.SINT, Sample(T.SINT, 2**63 - 1)),
        (Sample(T.STR, "-99999999999999999999"), T.SINT, Sample(T.SINT, -(2**63))),
        (Sample(T.STR, "5"), T.BOOL, Sample(T.BOOL, True)),
        (Sample(T.STR, "1.2.3.4:80"), T.IPV4, Sample(T.IPV4, V4)),
        (Sample(T.STR, "1.2.3"), T.IPV4, None),
        (Sample(T.STR, "::ffff:1.2.3.4"), T.ADDR, Sample(T.IPV6, MAPPED)),
        (Sample(T.STR, "1.2.3.4"), T.ADDR, Sample(T.IPV4, V4)),
        (Sample(T.STR, "nope"), T.ADDR, None),
        (Sample(T.STR, "é"), T.BIN, Sample(T.BIN, b"\xe9")),
        (Sample(T.STR, "GET"), T.METH, Sample(T.METH, "GET")),
        (Sample(T.SINT, 16909060), T.IPV4, Sample(T.IPV4, V4)),
        (Sample(T.SINT, 16909060), T.IPV6, Sample(T.IPV6, MAPPED)),
        (Sample(T.SINT, 258), T.BIN, Sample(T.BIN, bytes(6) + b"\x01\x02")),
        (Sample(T.SINT, -1), T.STR, Sample(T.STR, "-1")),
        (Sample(T.SINT, 0), T.BOOL, Sample(T.BOOL, False)),
        (Sample(T.BOOL, True), T.SINT, Sample(T.SINT, 1)),
        (Sample(T.BOOL, False), T.STR, Sample(T.STR, "0")),
        (Sample(T.IPV4, V4), T.SINT, Sample(T.SINT, 16909060)),
        (Sample(T.IPV4, V4), T.STR, Sample(T.STR, "1.2.3.4")),
        (Sample(T.IPV4, V4), T.IPV6, Sample(T.IPV6, MAPPED)),
        (Sample(T.IPV4, V4), T.BIN, Sample(T.BIN, V4)),
        (Sample(T.IPV6, MAPPED), T.IPV4, Sample(T.IPV4, V4)),
        (Sample(T.IPV6, bytes(12) + V4), T.IPV4, None),
        (Sample(T.IPV6, MAPPED), T.STR, Sample(T.STR, "::ffff:1.2.3.4")),
        (Sample(T.IPV6, MAPPED), T.SINT, None),
        (Sample(T.BIN, b"AB\0C"), T.STR, Sample(T.STR, "AB")),
        (Sample(T.BIN, b"AB"), T.SINT, None),
        (Sample(T.METH, "PUT"), T.STR, Sample(T.STR, "PUT")),
        (Sample(T.STR, "x"), T.ANY, Sample(T.STR, "x")),
    ],
)
def test_cast(smp: Sample, to: SampleType, expected: Sample | None) -> None:
    assert cast(smp, to) == expected


@pytest.mark.parametrize(
    ("src", "dst", "ok"),
    [
        (T.BOOL, T.BIN, True),
        (T.BOOL, T.ADDR, False),
        (T.IPV6, T.SINT, False),
        (T.BIN, T.SINT, False),
        (T.BIN, T.ADDR, False),
        (T.METH, T.SINT, False),
        (T.STR, T.ADDR, True),
        (T.ADDR, T.SINT, True),
        (T.ANY, T.IPV6, True),
    ],
)
def test_static_cast_matrix_matches_haproxy(src: SampleType, dst: SampleType, ok: bool) -> None:
    # Checked with haproxy -c on "%[<fetch of type src>,<converter taking dst>]": "cannot be applied" or valid.
    assert can_cast(src, dst) is ok


def test_leading_int_and_buf2ip() -> None:
    assert leading_int("42 apples") == 42
    assert leading_int("-") == 0
    assert parse_ipv4("01.2.3.4") == V4
    assert parse_ipv4("1.2.3.256") is None
    assert parse_ipv4("1.2.3.4.5") is None


def test_native_round_trip_for_scripts() -> None:
    assert to_native(Sample(T.IPV4, V4)) == "1.2.3.4"
    assert to_native(Sample(T.BIN, b"\xff\x00")) == "\xff\x00"
    assert to_native(Sample(T.BOOL, 1)) is True
    assert to_native(Sample(T.SINT, 3)) == 3
    assert from_native("x") == Sample(T.STR, "x")
    assert from_native(True) == Sample(T.BOOL, True)
    assert from_native(7) == Sample(T.SINT, 7)
    assert from_native(2.0) == Sample(T.SINT, 2)
    assert from_native(b"\x01") == Sample(T.BIN, b"\x01")
    assert from_native(None) is None
    assert to_text(None) is None
    assert repr(Sample(T.STR, "a")) == "Sample(STR, 'a')"
