"""The shared table itself: HAProxy's rate arithmetic, keys, expiry, LRU eviction, reloads, two processes."""

from __future__ import annotations

import os
import socket
import time

import pytest

from luaproxy.master.stick_tables import TableStore
from luaproxy.worker.samples import Sample, SampleType
from luaproxy.worker.sticktable import SharedTable, SpecError, parse_table_args
from luaproxy.worker.sticktable.table import Held, freq_add, freq_read
from tests.helpers import wait_until


def table(words: str, name: str = "t") -> SharedTable:
    return SharedTable(parse_table_args(name, tuple(words.split())))


def test_rate_is_the_sliding_period_estimate() -> None:
    q = memoryview(bytearray(24)).cast("q")
    for _ in range(10):
        freq_add(q, 0, 1000, 5000, 1)
    assert freq_read(q, 0, 1000, 5000) == 10
    assert freq_read(q, 0, 1000, 5999) == 10
    # next period: the previous count weighs for the part of the period still to come
    freq_add(q, 0, 1000, 6000, 2)
    assert freq_read(q, 0, 1000, 6000) == 2 + 10
    assert freq_read(q, 0, 1000, 6250) == 2 + 10 * 750 // 1000
    assert freq_read(q, 0, 1000, 6999) == 2
    # read a period later without events: the last period is now the previous one
    assert freq_read(q, 0, 1000, 7500) == 2 * 500 // 1000
    assert freq_read(q, 0, 1000, 8001) == 0
    # two periods of silence reset the history
    freq_add(q, 0, 1000, 9000, 1)
    assert freq_read(q, 0, 1000, 9000) == 1


def test_low_rates_do_not_flap() -> None:
    q = memoryview(bytearray(24)).cast("q")
    freq_add(q, 0, 1000, 1000, 1)
    freq_add(q, 0, 1000, 2000, 0)
    assert freq_read(q, 0, 1000, 2900) == 1


@pytest.mark.parametrize(("words", "sample", "text"), [
    ("type ip size 10", Sample(SampleType.STR, "10.1.2.3"), "10.1.2.3"),
    ("type ipv6 size 10", Sample(SampleType.STR, "10.1.2.3"), "::ffff:10.1.2.3"),
    ("type ipv6 size 10", Sample(SampleType.STR, "2001:db8::1"), "2001:db8::1"),
    ("type integer size 10", Sample(SampleType.SINT, 42), "42"),
    ("type string len 4 size 10", Sample(SampleType.STR, "abcdef"), "abcd"),
    ("type binary len 4 size 10", Sample(SampleType.BIN, b"\x01\x02"), "01020000"),
])
def test_keys_cast_to_the_table_type(words: str, sample: Sample, text: str) -> None:
    t = table(words)
    key = t.spec.key_of(sample)
    assert key is not None
    assert t.spec.key_text(key) == text


@pytest.mark.parametrize(("words", "message"), [
    ("size 10", "missing 'type'"),
    ("type ip", "missing or null 'size'"),
    ("type foo size 1", "unknown type 'foo'"),
    ("type ip size 1 store nope", "unknown data type 'nope'"),
    ("type ip size 1 store conn_rate", "expects a period"),
    ("type ip size 1 store gpc0(3)", "takes no argument"),
    ("type ip size 1 store gpt(2),gpt0", "simultaneous usage of 'gpt' and 'gpt0'"),
    ("type ip size 1 store gpc(2),gpc1", "simultaneous usage of 'gpc' and 'gpc0/gpc1'"),
    ("type ip size 1 store gpc_rate(2,1s),gpc0_rate(1s)", "simultaneous usage of 'gpc_rate'"),
    ("type ip size 1 store gpc(101)", "array size is out of allowed range (1-100) for store option 'gpc'"),
    ("type ip size 1 store gpt", "array size is out of allowed range"),
    ("type ip size 1 store gpc_rate(2)", "data type 'gpc_rate' expects a period"),
    ("type ip size 1 srvkey port", "unknown server key type 'port'"),
])
def test_bad_declarations_say_why(words: str, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_table_args("t", tuple(words.split()))


def test_size_units_and_data_order() -> None:
    spec = table("type ip size 1k expire 2m store http_req_rate(10s),gpc0,server_id").spec
    assert spec.size == 1024
    assert spec.expire_ms == 120000
    assert [n for n, _ in spec.data] == ["server_id", "gpc0", "http_req_rate"]


def test_arrays_and_server_keys() -> None:
    """Arrays take a word (three for a rate) per element; ``show table`` labels each element; the older
    names stand for the first elements; server_key is a string kept in the table's dictionary."""
    t = table("type ip size 4 srvkey addr store gpc_rate(2,10s),gpt(2),server_key,gpc(3)")
    assert [n for n, _ in t.spec.data] == ["server_key", "gpt", "gpc", "gpc_rate"]
    assert t.spec.srvkey == "addr" and t.spec.elements("gpc") == 3 and t.spec.elements("server_key") == 1
    idx = t.track(b"\x01\x02\x03\x04")
    for _ in range(2):
        t.count(idx, "gpc[1]")
    t.count(idx, "gpc0")
    t.set_value(idx, "gpt[1]", 42)
    t.set_server_key(idx, "10.0.0.1:80")
    assert t.inc_value(idx, "gpc[2]") == 1 and t.inc_value(idx, "gpc[3]") is None
    assert t.display(idx) == [("server_key", "10.0.0.1:80"), ("gpt0", 0), ("gpt1", 42), ("gpc0", 1), ("gpc1", 2),
                              ("gpc2", 1), ("gpc0_rate(10000)", 1), ("gpc1_rate(10000)", 2)]
    assert t.data(idx) == {"server_key": "10.0.0.1:80", "gpt": 0, "gpc": 1, "gpc_rate": 1}
    raw = t.raw(idx)
    assert raw["gpc"] == [1, 2, 1] and raw["gpt"] == [0, 42] and len(raw["gpc_rate"]) == 2
    other = table("type ip size 4 store gpc_rate(2,10s),gpt(2),server_key,gpc(3)")
    assert other.merge(b"\x01\x02\x03\x04", {**raw, "server_key": b"10.0.0.1:80"}, 1000)
    assert other.display(other.lookup(b"\x01\x02\x03\x04")) == t.display(idx)
    assert table("type ip size 4 store gpc0").server_key(0) is None


def test_least_recently_used_entry_goes_first_at_size() -> None:
    t = table("type integer size 3 store gpc0")
    keys = [n.to_bytes(4, "big") for n in range(5)]
    for key in keys[:3]:
        t.untrack(t.track(key))
    t.untrack(t.track(keys[0]))  # 0 is now the most recent, 1 the least
    t.untrack(t.track(keys[3]))
    assert t.lookup(keys[1]) < 0
    assert all(t.lookup(k) >= 0 for k in (keys[0], keys[2], keys[3]))
    assert t.used() == 3


def test_tracked_entries_are_not_evicted_and_nopurge_refuses() -> None:
    t = table("type integer size 2 store gpc0")
    held = [t.track(n.to_bytes(4, "big")) for n in range(2)]
    assert t.track((9).to_bytes(4, "big")) == -1
    t.untrack(held[0])
    assert t.track((9).to_bytes(4, "big")) >= 0
    full = table("type integer size 1 nopurge store gpc0")
    full.untrack(full.track(b"\0\0\0\1"))
    assert full.track(b"\0\0\0\2") == -1


def test_entries_expire() -> None:
    t = table("type ip size 10 expire 100ms store gpc0")
    key = socket.inet_aton("10.0.0.1")
    t.untrack(t.track(key))
    assert t.lookup(key) >= 0
    assert 0 < t.expires_in(t.lookup(key)) <= 100
    assert wait_until(lambda: t.lookup(key) < 0, 2.0)
    assert t.used() == 0


def test_conn_cur_counts_tracking_connections() -> None:
    t = table("type ip size 10 store conn_cur,conn_cnt")
    key = socket.inet_aton("10.0.0.1")
    first, second = t.track(key, ("conn",)), t.track(key, ("conn",))
    assert t.data(first) == {"conn_cnt": 2, "conn_cur": 2}
    assert t.refs(first) == 2
    t.untrack(first)
    t.untrack(second)
    assert t.data(first) == {"conn_cnt": 2, "conn_cur": 0}


def test_a_stream_end_drops_its_hold_without_the_lock() -> None:
    """What a process holds is in its own column: the stream's end drops it while another process holds
    the lock, and pushes the expiry back."""
    t = table("type ip size 10 expire 10s store conn_cur,http_req_rate(10s)")
    key = socket.inet_aton("10.0.0.1")
    idx = t.track(key, ("conn", "sess", "http_req"))
    assert t.refs(idx) == 1 and t.value(idx, "conn_cur") == 1
    ready, go = os.pipe()
    pid = os.fork()
    if pid == 0:
        t.acquire()
        os.write(go, b"1")
        time.sleep(3)
        os._exit(0)
    try:
        assert os.read(ready, 1) == b"1"
        time.sleep(0.02)
        started = time.monotonic()
        t.untrack(idx)
        assert time.monotonic() - started < 0.5
        assert t.refs(idx) == 0 and t.value(idx, "conn_cur") == 0 and t.value(idx, "http_req_rate") == 1
        assert 9000 < t.expires_in(idx) <= 10000
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(ready)
        os.close(go)


def test_an_entry_released_late_does_not_hold_back_the_expired_ones() -> None:
    """A stream released its entry without the lock after others were touched: at the LRU tail with a
    later expiry, it does not keep the expired entries in front of it in the table."""
    t = table("type integer size 10 expire 600ms store conn_cur")
    long_stream = t.track((1).to_bytes(4, "big"))
    t.untrack(t.track((2).to_bytes(4, "big")))
    time.sleep(0.3)
    t.untrack(long_stream)  # expires 600 ms from now, the other one in 300 ms
    assert wait_until(lambda: t.used() == 1, 2.0)
    assert t.lookup((1).to_bytes(4, "big")) >= 0 and t.lookup((2).to_bytes(4, "big")) < 0
    assert wait_until(lambda: t.used() == 0, 2.0)


def test_set_conn_cur_counts_with_the_held_connections() -> None:
    """``set table data.conn_cur`` gives the value read now; the connections held then end and count down."""
    t = table("type ip size 10 store conn_cur")
    key = socket.inet_aton("10.0.0.1")
    held = [t.track(key), t.track(key)]
    assert t.set_value(held[0], "conn_cur", 5)
    assert t.value(held[0], "conn_cur") == 5 and t.data(held[0]) == {"conn_cur": 5}
    for idx in held:
        t.untrack(idx)
    assert t.display(held[0]) == [("conn_cur", 3)] and t.raw(held[0]) == {"conn_cur": 3}


def test_a_process_without_a_column_counts_in_the_entry() -> None:
    t = SharedTable(parse_table_args("t", ("type", "ip", "size", "10", "store", "conn_cur")), columns=0)
    idx = t.track(socket.inet_aton("10.0.0.1"))
    assert t.refs(idx) == 1 and t.value(idx, "conn_cur") == 1
    t.untrack(idx)
    assert t.refs(idx) == 0 and t.value(idx, "conn_cur") == 0


def test_a_reload_keeps_a_table_whose_declaration_did_not_change() -> None:
    spec = table("type ip size 10 store gpc0", "fe").spec
    first = TableStore()
    kept = first.table(spec)
    second = TableStore(first)
    assert second.table(spec) is kept
    assert second.kept == ["fe"]
    changed = table("type ip size 10 store gpc1", "fe").spec
    assert TableStore(second).table(changed) is not kept


def test_two_processes_count_exactly() -> None:
    t = table("type ip size 10 store http_req_cnt,http_req_rate(1m)")
    key = socket.inet_aton("10.0.0.1")
    rounds = 2000
    pid = os.fork()
    if pid == 0:
        try:
            for _ in range(rounds):
                t.untrack(t.track(key, ("http_req",)))
        finally:
            os._exit(0)
    for _ in range(rounds):
        t.untrack(t.track(key, ("http_req",)))
    os.waitpid(pid, 0)
    assert t.data(t.lookup(key)) == {"http_req_cnt": 2 * rounds, "http_req_rate": 2 * rounds}


def test_a_dead_lock_holder_is_recovered() -> None:
    t = table("type ip size 10 store gpc0")
    pid = os.fork()
    if pid == 0:
        t.acquire()
        os._exit(0)  # dies holding the lock
    os.waitpid(pid, 0)
    started = time.monotonic()
    t.untrack(t.track(socket.inet_aton("10.0.0.1")))
    assert time.monotonic() - started < 5
    assert t.used() == 1


def test_a_dead_process_column_is_given_back() -> None:
    """What a process held when it died (references, conn_cur) comes off its entries, and only that."""
    t = SharedTable(parse_table_args("t", ("type", "integer", "size", "5000", "store", "conn_cur")), columns=4)
    mine = t.track((7).to_bytes(4, "big"))
    pid = os.fork()
    if pid == 0:
        for n in range(0, 4000, 2):
            t.track(n.to_bytes(4, "big"))
        t.track((7).to_bytes(4, "big"))
        os._exit(0)
    os.waitpid(pid, 0)
    assert t.value(t.lookup((2).to_bytes(4, "big")), "conn_cur") == 1
    assert t.refs(mine) == 2 and t.value(mine, "conn_cur") == 2
    assert t.reclaim(pid) == 2001
    two = t.lookup((2).to_bytes(4, "big"))
    assert t.value(two, "conn_cur") == 0 and t.refs(two) == 0
    assert t.refs(mine) == 1 and t.value(mine, "conn_cur") == 1, "what this process holds stays"
    assert t.reclaim(pid) == 0


def test_stick_writes_the_server_in_one_go() -> None:
    """``stick store-*`` creates or touches the entry and names the server by id and key; a full table
    whose entries are all in use refuses it."""
    t = table("type string len 8 size 1 expire 10s store server_id,server_key")
    idx = t.stick(b"a", 3, "s3")
    assert t.value(idx, "server_id") == 3 and t.server_key(idx) == "s3"
    assert t.stick(b"a", 4, "s4") == idx and t.value(idx, "server_id") == 4 and t.server_key(idx) == "s4"
    held = t.track(b"a")
    assert t.stick(b"b", 1, "s1") == -1
    t.untrack(held)
    assert t.stick(b"b", 1) >= 0 and t.lookup(b"a") < 0 and t.server_key(t.lookup(b"b")) is None


def test_a_tracker_reading_a_rate_reads_it_as_the_fetch_does() -> None:
    """The rate a tracker returns (read under its lock right after counting) is the one ``value`` reads,
    in the same period, the next one (the previous count weighs pro rata) and after a silence."""
    t = table("type ip size 10 store http_req_rate(1s),conn_cur")
    key = socket.inet_aton("10.0.0.1")
    track = t.tracker(("conn", "sess", "http_req"), rate="http_req_rate")
    held = Held()
    off, period = t.slots["http_req_rate"]
    now = time.monotonic_ns() // 1_000_000
    for tick, curr, past in ((None, 0, 0), (now - period - 300, 40, 7), (now - 5 * period, 9, 9), (now - 10, 3, 2)):
        counted = track(key, held)
        if tick is not None:  # the words as a period long ago left them, then one more event
            at = held.base + off
            t.q[at], t.q[at + 1], t.q[at + 2] = tick, curr, past
            counted = track(key, held)
        assert counted == t.value(held.idx, "http_req_rate"), (tick, curr, past)
    assert counted >= 4  # this period: 3 + the event, the previous one weighs for the rest
    with pytest.raises(ValueError):
        t.tracker(("conn",), rate="http_req_rate")
