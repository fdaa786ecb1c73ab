"""HAProxy's condition grammar (.if blocks, -cc) and the variable expansions of configuration words."""

from __future__ import annotations

import pytest

from luaproxy.master.config import loader
from luaproxy.master.config.conditions import ConditionError, evaluate, version_key
from luaproxy.master.config.errors import ConfigErrors
from luaproxy.master.config.lexer import split_words


@pytest.mark.parametrize(("text", "value"), [
    ("", False), ("0", False), ("1", True), ("-1000 && 200", True), ("!0", True),
    ("1 && 0 || 1", True), ("0 || 1 && 0", False), ("!(0 || 0)", True),
    ("1&&!0&&!((streq(a,b)||!streq(a,a)&&1)||strneq(a,a))", True),
    ("streq(foo bar,foo bar)", True), ("strneq(a,b)", True),
    ("version_atleast(2.5-dev0)", True), ("version_atleast(2.6)", True), ("version_atleast(3.0.0)", False),
    ("version_before(2.7)", True), ("feature(LUA)", True), ("feature(NOPE)", False),
])
def test_expressions(text, value):
    assert evaluate(text) is value


@pytest.mark.parametrize("text", ["200rrr", "!(0))", "(1", "nope(1)", "streq(a)", "&&1", "streq"])
def test_bad_expressions(text):
    with pytest.raises(ConditionError):
        evaluate(text)


def test_versions_order_as_haproxy():
    assert version_key("2.5-dev0") < version_key("2.5-rc1") < version_key("2.5") == version_key("2.5.0")
    assert version_key("2.5.0") < version_key("2.5.1") < version_key("2.6-dev0")


def test_defined(monkeypatch):
    monkeypatch.setenv("LP_SET", "")
    monkeypatch.delenv("LP_UNSET", raising=False)
    assert evaluate("defined(LP_SET)") and not evaluate("defined(LP_UNSET)")


def test_variable_forms(monkeypatch):
    monkeypatch.setenv("LP_A", "x y")
    monkeypatch.setenv("LP_EMPTY", "")
    monkeypatch.delenv("LP_NONE", raising=False)
    assert split_words('a "$LP_A" "${LP_A}!"') == ["a", "x y", "x y!"]
    assert split_words('t "${LP_NONE-5s}" "${LP_EMPTY-5s}"') == ["t", "5s", ""]
    assert split_words('s "${LP_A[*]}" z') == ["s", "x", "y", "z"]
    assert split_words('l "${.LINE}@${.FILE}"', "f.cfg", 7) == ["l", "7@f.cfg"]
    assert split_words("bare $LP_A") == ["bare", "$LP_A"]


def load(tmp_path, text):
    path = tmp_path / "t.cfg"
    path.write_text(text)
    files, sections, settings = loader.load([str(path)])
    return loader.parse_proxies(files, sections, settings)


def test_conditional_blocks(tmp_path, monkeypatch):
    monkeypatch.setenv("LP_MODE", "two")
    config = load(tmp_path, """
global
.if streq("$LP_MODE",one)
    maxconn 1
.elif streq("$LP_MODE",two)
  .if 0
    maxconn 3
  .else
    maxconn 2
  .endif
.else
    maxconn 4
.endif
.if 0
    this line is skipped, so its syntax does not matter "
.endif
.notice "mode ${LP_MODE}"
""")
    assert config.global_.maxconn == 2
    assert config.global_.messages == [("notice", f"parsing [{tmp_path}/t.cfg:17] : mode two")]


@pytest.mark.parametrize(("text", "message"), [
    (".if 1\nglobal\n", "'.if' is never closed."),
    ("global\n.endif\n", "'.endif' without a matching '.if'."),
    (".if 1\n.else\n.elif 1\n.endif\n", "'.elif' after '.else'."),
    (".if 200rrr\n.endif\n", "failed to evaluate condition"),
    ('.alert "no way"\n', "no way"),
])
def test_conditional_block_errors(tmp_path, text, message):
    with pytest.raises(ConfigErrors) as info:
        load(tmp_path, text)
    assert message in str(info.value)


def test_named_defaults_rules_come_first(tmp_path):
    config = load(tmp_path, """
defaults front
    mode http
    http-request set-header x-def 1
frontend fe from front
    bind :1
    http-request set-header x-own 1
""")
    (fe,) = config.proxies
    assert [r.words[1] for r in fe.rules["http-request"]] == ["x-def", "x-own"]


@pytest.mark.parametrize(("text", "message"), [
    ("defaults\n http-request set-header X 1\n", "not allowed in an anonymous 'defaults' section"),
    ("defaults d\n tcp-request content accept\nlisten l from d\n bind :1\n", "cannot inherit"),
    ("defaults d\n tcp-request content accept\nfrontend f from d\n bind :1\nbackend b from d\n",
     "cannot init both frontends and backends"),
    ("defaults d\n tcp-request connection accept\nbackend b from d\n", "which a backend cannot have"),
])
def test_named_defaults_rules_misuse(tmp_path, text, message):
    with pytest.raises(ConfigErrors) as info:
        load(tmp_path, text)
    assert message in str(info.value)


def test_dispatch_is_the_backend_destination(tmp_path):
    config = load(tmp_path, "listen l\n bind :1\n dispatch 127.0.0.1:8080\n")
    (server,) = config.proxies[0].servers
    assert (server.host, server.port) == ("127.0.0.1", 8080)
    assert config.proxies[0].setting("http-reuse") == ("never",)
