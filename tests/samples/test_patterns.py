"""Pattern parsing and the indexes behind each match method."""

from __future__ import annotations

import socket

import pytest

from luaproxy.worker.samples.patterns import (
    Entry,
    IpIndex,
    ListIndex,
    Method,
    PatternError,
    PrefixIndex,
    StrIndex,
    new_index,
    parse_int_range,
    parse_ip_pattern,
)


def entries(*keys: str, gen: int = 0) -> list[Entry]:
    return [Entry(i + 1, key, f"v{i}", gen) for i, key in enumerate(keys)]


def filled(method: Method, *keys: str, icase: bool = False) -> object:
    index = new_index(method, icase)
    index.rebuild(entries(*keys))
    return index


def v4(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, text)


def v6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def key(found: Entry | None) -> str | None:
    return None if found is None else found.key


def test_index_kinds_follow_haproxy() -> None:
    assert isinstance(new_index(Method.STR, False), StrIndex)
    assert new_index(Method.STR, True).kind == "list"
    assert isinstance(new_index(Method.BEG, False), PrefixIndex)
    assert isinstance(new_index(Method.BEG, True), ListIndex)
    assert isinstance(new_index(Method.IP, False), IpIndex)
    assert new_index(Method.SUB, False).kind == "list"


def test_str_exact_and_case_folding_is_ascii_only() -> None:
    index = filled(Method.STR, "Abc", "abc", "Été")
    assert key(index.lookup("abc", 0)) == "abc"
    assert index.lookup("ABC", 0) is None
    folded = filled(Method.STR, "Abc", "abc", "Été", icase=True)
    assert key(folded.lookup("ABC", 0)) == "Abc"
    assert key(folded.lookup("éTÉ", 0)) is None
    assert key(folded.lookup("ÉTé", 0)) == "Été"


@pytest.mark.parametrize(
    ("method", "keys", "value", "expected"),
    [
        (Method.BEG, ("/a", "/ab", ""), "/abc", "/ab"),
        (Method.BEG, ("/a", "/ab"), "/b", None),
        (Method.END, (".js", ".css"), "x.css", ".css"),
        (Method.SUB, ("zz", "b"), "abc", "b"),
        (Method.REG, ("^a.c$", "b"), "abc", "^a.c$"),
        (Method.DIR, ("/images/png",), "/images/png/logo/32x32.png", "/images/png"),
        (Method.DIR, ("png",), "/images/png/logo/32x32.png", "png"),
        (Method.DIR, ("32x32",), "/images/png/logo/32x32.png", None),
        (Method.DIR, ("logo/32x32.png",), "/images/png/logo/32x32.png", "logo/32x32.png"),
        # haproxy 2.6 answers no here although its manual lists "dc-eu.example:80" as matching.
        (Method.DOM, ("dc-eu.example:80",), "http://www1.dc-eu.example.com:80/blah", None),
        (Method.DOM, ("dc-eu.example",), "http://www1.dc-eu.example.com:80/blah", "dc-eu.example"),
        (Method.DOM, (":www1:",), "http://www1.dc-eu.example.com:80/blah", ":www1:"),
        (Method.DOM, ("eu",), "http://www1.dc-eu.example.com:80/blah", None),
        (Method.DOM, ("...",), "a.b", None),
        (Method.INT, ("1024:65535", ":1023"), 80, ":1023"),
        (Method.INT, ("10:",), 9, None),
        (Method.INT, ("-5:-1",), -3, "-5:-1"),
        (Method.LEN, ("3",), "abc", "3"),
        (Method.BIN, ("616263",), b"abc", "616263"),
        (Method.METH, ("GET", "FOO"), "FOO", "FOO"),
        (Method.METH, ("GET",), "get", None),
    ],
)
def test_list_methods(method: Method, keys: tuple[str, ...], value: object, expected: str | None) -> None:
    assert key(filled(method, *keys).lookup(value, 0)) == expected


def test_case_insensitive_list_methods() -> None:
    assert key(filled(Method.BEG, "/ST", icase=True).lookup("/static", 0)) == "/ST"
    assert key(filled(Method.SUB, "TAT", icase=True).lookup("/static", 0)) == "TAT"
    assert key(filled(Method.END, "IC", icase=True).lookup("/static", 0)) == "IC"
    assert key(filled(Method.REG, "^/S", icase=True).lookup("/static", 0)) == "^/S"
    assert key(filled(Method.DOM, "STATIC", icase=True).lookup("/static", 0)) == "STATIC"
    assert key(filled(Method.METH, "get", icase=True).lookup("GET", 0)) == "get"


def test_ip_longest_prefix_and_odd_masks() -> None:
    index = filled(Method.IP, "10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "10.2.0.0/255.0.255.0", "::1", "2001:db8::/32")
    assert key(index.lookup(v4("10.1.2.3"), 0)) == "10.1.2.3"
    assert key(index.lookup(v4("10.1.9.9"), 0)) == "10.1.0.0/16"
    assert key(index.lookup(v4("11.9.0.1"), 0)) is None
    assert key(index.lookup(v4("10.9.0.1"), 0)) == "10.0.0.0/8"
    assert key(index.lookup(v6("::ffff:10.1.2.3"), 0)) == "10.1.2.3"
    assert key(index.lookup(v6("2001:db8:1::"), 0)) == "2001:db8::/32"
    odd_only = filled(Method.IP, "10.2.0.0/255.0.255.0")
    assert key(odd_only.lookup(v4("10.7.0.1"), 0)) == "10.2.0.0/255.0.255.0"
    assert key(odd_only.lookup(v6("::10.7.0.1"), 0)) == "10.2.0.0/255.0.255.0"
    v6_only = filled(Method.IP, "::ffff:10.0.0.0/104")
    assert key(v6_only.lookup(v4("10.3.3.3"), 0)) == "::ffff:10.0.0.0/104"


def test_only_current_generation_matches_and_first_wins() -> None:
    index = StrIndex(False)
    old, new = Entry(1, "k", "old", 0), Entry(2, "k", "new", 1)
    index.add(old)
    index.add(new)
    assert index.lookup("k", 0) is old
    assert index.lookup("k", 1) is new
    index.remove(old)
    assert index.lookup("k", 0) is None
    for cls in (PrefixIndex, IpIndex):
        idx = cls()
        entry = Entry(3, "10.0.0.0/8" if cls is IpIndex else "/p", None, 0)
        idx.add(entry)
        idx.remove(entry)
        assert idx.lookup(v4("10.0.0.1") if cls is IpIndex else "/px", 0) is None


def test_regex_search_gives_the_match_for_regm() -> None:
    index = ListIndex(Method.REG, False)
    index.rebuild(entries("^/(a)", "b"))
    found = index.search("/a", 0)
    assert found is not None and found[1].group(1) == "a"
    assert index.search("zz", 0) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5", (5, 5)), ("1:9", (1, 9)), (":9", (None, 9)), ("1:", (1, None)), ("-3", (-3, -3))],
)
def test_int_ranges(text: str, expected: tuple[int | None, int | None]) -> None:
    assert parse_int_range(text) == expected


@pytest.mark.parametrize(("text", "message"), [("x", "'x' is not a number"), ("1:2:3", "not a valid number range")])
def test_bad_int_ranges(text: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        parse_int_range(text)


def test_ip_pattern_forms() -> None:
    assert parse_ip_pattern("10.0.0.1/8") == (4, 0x0A000000, 0xFF000000)
    assert parse_ip_pattern("10.0.0.1/255.255.0.0")[2] == 0xFFFF0000
    assert parse_ip_pattern("127.1", resolve=True)[1] == 0x7F000001
    assert parse_ip_pattern("10.12/8", resolve=True)[1] == 0x0A000000
    assert parse_ip_pattern("::1/128")[0] == 6
    for bad in ("127.1", "::1/129", "1.2.3.4/33", "host.example", "1.2.3.4/255.255.0"):
        with pytest.raises(PatternError, match="is not a valid IPv4 or IPv6 address"):
            parse_ip_pattern(bad)
