"""The peers protocol core without sockets: varints at the spec's boundaries, framing, table messages."""

from __future__ import annotations

import pytest

from luaproxy.master.peers import codec
from luaproxy.worker.sticktable import parse_table_args


@pytest.mark.parametrize(("value", "size"), [(0, 1), (239, 1), (240, 2), (2287, 2), (2288, 3), (264431, 3),
                                             (264432, 4), (33818863, 4), (33818864, 5), (4328786159, 5),
                                             (2**64 - 1, 10)])
def test_varints_take_the_sizes_the_spec_gives(value: int, size: int) -> None:
    encoded = codec.encode_int(value)
    assert len(encoded) == size
    assert codec.decode_int(encoded + b"x", 0) == (value, size)


def test_a_truncated_varint_is_a_protocol_error() -> None:
    with pytest.raises(codec.ProtocolError):
        codec.decode_int(codec.encode_int(5000)[:-1], 0)


def test_messages_are_cut_whole_whatever_the_reads() -> None:
    spec = parse_table_args("st", ("type", "string", "len", "8", "size", "10", "expire", "30s", "store",
                                   "gpc0,http_req_rate(10s),conn_cur"))
    wire = (codec.control(codec.CTRL_HEARTBEAT) + codec.define(3, "st", spec)
            + codec.update(spec, 7, 1500, b"/abc", {"gpc0": 4, "http_req_rate": (900, 2, 5), "conn_cur": 1}, 1000)
            + codec.ack(9, 7))
    reader = codec.Reader()
    found = []
    for i in range(len(wire)):
        reader.feed(wire[i : i + 1])
        found += reader.messages()
    assert [(c, k) for c, k, _ in found] == [(0, codec.CTRL_HEARTBEAT), (10, codec.DEFINE),
                                             (10, codec.UPDATE_TIMED), (10, codec.ACK)]
    table_id, remote = codec.parse_define(found[1][2], {"st": spec})
    assert table_id == 3 and remote.spec == spec and remote.bits == (2, 6, 10)
    assert spec.wire_key_len == 9  # haproxy counts the string's NUL
    update = codec.parse_update(codec.UPDATE_TIMED, found[2][2], remote, 5000)
    assert update is not None and remote.last_get == 7
    assert (update.key, update.expire_ms) == (b"/abc", 1500)
    assert update.values == {"gpc0": 4, "http_req_rate": (4900, 2, 5), "conn_cur": 1}
    assert codec.parse_ack(found[3][2]) == (9, 7)


def _payload(message: bytes) -> bytes:
    reader = codec.Reader()
    reader.feed(message)
    return reader.messages()[0][2]


def test_arrays_and_server_keys_on_the_wire() -> None:
    """A definition announces each array's size (and a rate array's period) after its bit; an update sends
    the elements in a row and server_key as a dictionary entry: the whole string the first time, then its
    number alone."""
    spec = parse_table_args("st", ("type", "string", "size", "10", "store", "server_key,gpt(2),gpc_rate(2,1s)"))
    wire = codec.define(1, "st", spec)
    _, remote = codec.parse_define(wire[3:], {"st": spec})
    assert remote.bits == (19, 22, 24) and remote.nbelem == {22: 2, 24: 2}
    raw = {"server_key": "srv1", "gpt": [3, 4], "gpc_rate": [(900, 1, 2), (800, 3, 4)]}
    sender, receiver = codec.Dictionaries(), codec.Dictionaries()
    first = codec.update(spec, 1, 0, b"k", raw, 1000, sender)
    second = codec.update(spec, 2, 0, b"j", raw, 1000, sender)
    assert b"srv1" in first and b"srv1" not in second
    for message, key in ((first, b"k"), (second, b"j")):
        found = codec.parse_update(codec.UPDATE_TIMED, _payload(message), remote, 1000,
                                   receiver)
        assert found is not None and found.key == key
        assert found.values == {"server_key": b"srv1", "gpt": [3, 4], "gpc_rate": [(900, 1, 2), (800, 3, 4)]}
    none = codec.update(spec, 3, 0, b"k", {**raw, "server_key": None}, 1000, sender)
    found = codec.parse_update(codec.UPDATE_TIMED, _payload(none), remote, 1000, receiver)
    assert found is not None and "server_key" not in found.values


def test_a_table_with_another_key_is_read_but_not_learnt() -> None:
    ours = parse_table_args("st", ("type", "ip", "size", "10", "store", "gpc0"))
    theirs = parse_table_args("st", ("type", "string", "size", "10", "store", "gpc0"))
    _, remote = codec.parse_define(codec.define(1, "st", theirs)[3:], {"st": ours})
    assert remote.spec is None
    payload = codec.update(theirs, None, 0, b"k", {"gpc0": 1}, 0)[3:]
    assert codec.parse_update(codec.INC_UPDATE_TIMED, payload, remote, 0) is None
    assert remote.last_get == 1


def test_tables_list_local_changes_and_merge_what_peers_send() -> None:
    from luaproxy.worker.sticktable import SharedTable

    table = SharedTable(parse_table_args("st", ("type", "string", "size", "10", "expire", "10s", "peers", "p",
                                                "store", "gpc0,conn_cur,http_req_rate(10s)")))
    start = table.last_update()
    idx = table.track(b"a", ("http_req",))
    table.untrack(idx)
    table.get_or_create(b"b")
    changed = table.changed_since(start, 10)
    assert [table.key(i) for _, i in changed] == [b"a", b"b"]
    mark = table.last_update()
    assert table.merge(b"c", {"gpc0": 7, "conn_cur": 3, "http_req_rate": (0, 2, 0)}, 60000)
    assert table.changed_since(mark, 10) == []  # learnt entries are not pushed back
    c = table.lookup(b"c")
    assert table.value(c, "gpc0") == 7 and table.value(c, "conn_cur") == 0  # conn_cur stays local
    assert table.expires_in(c) <= 10000  # never beyond the table's own expiry


def test_recent_changes_come_from_the_ring_and_old_ones_from_a_scan() -> None:
    from luaproxy.worker.sticktable import SharedTable

    table = SharedTable(parse_table_args("st", ("type", "integer", "size", "3000", "peers", "p", "store", "gpc0")))
    for n in range(3000):
        table.get_or_create(n.to_bytes(4, "big"))
    mark = table.last_update()
    for n in (5, 6, 5):
        table.get_or_create(n.to_bytes(4, "big"))
    assert [int.from_bytes(table.key(i), "big") for _, i in table.changed_since(mark, 10)] == [6, 5]
    assert len(table.changed_since(0, 5000)) == 3000  # beyond the ring: every entry, by update id


def test_a_table_no_peers_section_shares_keeps_no_update_ids() -> None:
    from luaproxy.worker.sticktable import SharedTable

    table = SharedTable(parse_table_args("st", ("type", "integer", "size", "10", "store", "gpc0,conn_cur")))
    table.untrack(table.track(b"\0\0\0\1", ("gpc0",)))
    table.get_or_create(b"\0\0\0\2")
    assert table.last_update() == 0 and table.changed_since(0, 10) == []


@pytest.mark.parametrize("body", [codec.encode_int(0), codec.encode_int(129),
                                  codec.encode_int(1) + codec.encode_int(codec.MAX_DICT_VALUE) + b"x" * 10])
def test_a_bad_dictionary_entry_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(codec.ProtocolError):
        codec.Dictionaries().decode(codec.encode_int(len(body)) + body, 0)
