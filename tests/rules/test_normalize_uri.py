"""The normalize-uri normalizers on the cases HAProxy 2.6 documents and its reg-test checks."""

from __future__ import annotations

import pytest

from luaproxy.worker.rules.errors import RuleError
from luaproxy.worker.rules.normalize_uri import InvalidUri, parse_normalizer

CASES = [
    ("path-merge-slashes", (), "///foo///bar///", "/foo/bar/"),
    ("path-merge-slashes", (), "//foo?bar=///", "/foo?bar=///"),
    ("path-strip-dot", (), "/.", "/"),
    ("path-strip-dot", (), "/a/./a", "/a/a"),
    ("path-strip-dot", (), "/a/.", "/a/"),
    ("path-strip-dot", (), "/.well-known/", "/.well-known/"),
    ("path-strip-dot", (), "/?a=/./", "/?a=/./"),
    ("path-strip-dotdot", (), "/foo/..", "/"),
    ("path-strip-dotdot", (), "/foo/bar/../", "/foo/"),
    ("path-strip-dotdot", (), "/foo/../../bar/", "/../bar/"),
    ("path-strip-dotdot", ("full",), "/foo/../../bar/", "/bar/"),
    ("path-strip-dotdot", (), "/foo//../../bar/", "/bar/"),
    ("path-strip-dotdot", (), "/foo/../?bar=/foo/../", "/?bar=/foo/../"),
    ("query-sort-by-name", (), "/?a=5&b=3&a=1&a=2&b=4", "/?a=5&a=1&a=2&b=3&b=4"),
    ("query-sort-by-name", (), "/?c&b&a&z&x&y", "/?a&b&c&x&y&z"),
    ("query-sort-by-name", (), "/?", "/?"),
    ("percent-to-uppercase", (), "/%aa?a=%aa", "/%AA?a=%AA"),
    ("percent-to-uppercase", (), "/%zz?a=%zz", "/%zz?a=%zz"),
    ("percent-decode-unreserved", (), "/%61?%61=%61", "/a?a=a"),
    ("percent-decode-unreserved", (), "/%3F?foo=bar", "/%3F?foo=bar"),
    ("percent-decode-unreserved", (), "/%%36%36", "/%66"),
    ("fragment-strip", (), "/#foo", "/"),
    ("fragment-encode", (), "/#foo/#foo", "/%23foo/%23foo"),
]


@pytest.mark.parametrize(("name", "options", "before", "after"), CASES)
def test_normalizers(name: str, options: tuple[str, ...], before: str, after: str) -> None:
    assert parse_normalizer(name, options)(before) == after


@pytest.mark.parametrize(("name", "uri"), [("percent-to-uppercase", "/%zz"),
                                           ("percent-decode-unreserved", "/%%36%36")])
def test_strict_refuses_bad_percent_sequences(name: str, uri: str) -> None:
    with pytest.raises(InvalidUri):
        parse_normalizer(name, ("strict",))(uri)


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(RuleError, match="unexpected 'full'"):
        parse_normalizer("path-merge-slashes", ("full",))
