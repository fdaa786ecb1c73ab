"""The configuration grammar: words, units, sections, keywords and their errors."""

from __future__ import annotations

import pytest

from luaproxy.master.config import loader
from luaproxy.master.config.errors import ConfigErrors
from luaproxy.master.config.lexer import split_words
from luaproxy.master.config.units import parse_size, parse_time


@pytest.mark.parametrize(("line", "words"), [
    ("bind 127.0.0.1:80", ["bind", "127.0.0.1:80"]),
    ("  mode   http  # comment", ["mode", "http"]),
    ("string 'single # quoted'", ["string", "single # quoted"]),
    ('string "double \\"q\\" here"', ["string", 'double "q" here']),
    ("a\\ b c", ["a b", "c"]),
    ("tab\\tnl\\n", ["tab\tnl\n"]),
    ("'' x", ["", "x"]),
    ('"a"\'b\'c', ["abc"]),
    ("hex\\x41", ["hexA"]),
    ("escaped\\#hash", ["escaped#hash"]),
])
def test_split_words(line, words):
    assert split_words(line) == words


def test_environment_expansion(monkeypatch):
    monkeypatch.setenv("LP_PORT", "8080")
    assert split_words('bind "127.0.0.1:${LP_PORT}"') == ["bind", "127.0.0.1:8080"]
    assert split_words("bind '${LP_PORT}'") == ["bind", "${LP_PORT}"]


def test_unterminated_quote_is_an_error():
    with pytest.raises(Exception, match="unmatched quote"):
        split_words('log "stdout', "f.cfg", 3)


@pytest.mark.parametrize(("text", "seconds"), [
    ("100", 0.1), ("100ms", 0.1), ("5s", 5), ("2m", 120), ("1h", 3600), ("1d", 86400), ("250us", 0.00025)])
def test_parse_time(text, seconds):
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "size"), [("16384", 16384), ("16k", 16384), ("1m", 1 << 20), ("2g", 2 << 30)])
def test_parse_size(text, size):
    assert parse_size(text) == size


def load(tmp_path, text, name="t.cfg"):
    path = tmp_path / name
    path.write_text(text)
    files, sections, settings = loader.load([str(path)])
    return loader.parse_proxies(files, sections, settings)


def errors_of(tmp_path, text) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        load(tmp_path, text)
    return [str(e) for e in info.value.errors]


def test_global_sections_merge(tmp_path):
    config = load(tmp_path, "global\n nbproc 2\nglobal\n maxconn 100\n lua-load a.lua\n")
    assert (config.global_.nbproc, config.global_.maxconn) == (2, 100)
    assert [x.path for x in config.global_.lua_loads] == ["a.lua"]


def test_tune_lua_keywords_are_stored(tmp_path):
    config = load(tmp_path, "global\n tune.lua.session-timeout 4s\n tune.lua.maxmem 64\n"
                            " tune.lua.forced-yield 10000\n tune.bufsize 32k\n")
    assert config.global_.tune["tune.lua.session-timeout"] == "4.0"
    assert config.global_.tune["tune.lua.maxmem"] == "64"
    assert config.global_.bufsize == 32768


def test_lua_duration_histogram_keyword(tmp_path):
    config = load(tmp_path, "global\n tune.lua.duration-histogram on\n")
    assert config.global_.tune["tune.lua.duration-histogram"] == "on"
    (message,) = errors_of(tmp_path, "global\n tune.lua.duration-histogram yes\n")
    assert "t.cfg:2]" in message and "expects either 'on' or 'off' but got 'yes'" in message


def test_on_off_keywords_share_one_check(tmp_path):
    errors = errors_of(tmp_path, "global\n tune.idle-pool.shared foo\n map-persist\n tune.lua.log.stderr x\n")
    errors += errors_of(tmp_path, "cache c\n total-max-size 4\n process-vary maybe\n")
    assert [e.split("] : ", 1)[1] if "] : " in e else e for e in errors] == [
        "'tune.idle-pool.shared' expects either 'on' or 'off' but got 'foo'.",
        "'map-persist' expects either 'on' or 'off' but got ''.",
        "'tune.lua.log.stderr' expects either 'on' or 'auto' or 'off' but got 'x'.",
        "'process-vary' expects either 'on' or 'off' but got 'maybe'."]


def test_defaults_are_inherited_and_overridden(tmp_path):
    config = load(tmp_path, """
defaults
  mode http
  timeout client 5s
  timeout server 7s
frontend fe
  bind :8080
  timeout client 1s
  default_backend be
backend be
  server s 127.0.0.1:80
""")
    fe, be = config.proxies
    assert fe.mode == be.mode == "http"
    assert fe.timeouts["client"] == 1 and be.timeouts["server"] == 7


@pytest.mark.parametrize(("address", "host", "port"), [
    ("127.0.0.1:10001", "127.0.0.1", 10001), (":80", "", 80), ("*:443", "", 443),
    ("[::1]:8080", "::1", 8080), ("ipv6@::1:81", "::1", 81)])
def test_bind_forms(tmp_path, address, host, port):
    config = load(tmp_path, f"frontend fe\n bind {address}\n")
    bind = config.proxies[0].binds[0]
    assert (bind.host, bind.port) == (host, port)


def test_addresses_expand_environment_variables_unquoted(tmp_path, monkeypatch):
    """haproxy expands ${VAR} in addresses itself (str2sa_range), quoted or not, as varnishtest configs rely on."""
    monkeypatch.setenv("LP_HOST", "127.0.0.2")
    monkeypatch.setenv("LP_PORT", "8081")
    config = load(tmp_path, "backend be\n server s ${LP_HOST}:${LP_PORT}\nfrontend fe\n bind ${LP_HOST}:${LP_PORT}\n")
    server = config.proxies[0].servers[0]
    assert (server.host, server.port) == ("127.0.0.2", 8081)
    assert (config.proxies[1].binds[0].host, config.proxies[1].binds[0].port) == ("127.0.0.2", 8081)


def test_bind_list_and_fd(tmp_path):
    config = load(tmp_path, "frontend fe\n bind 127.0.0.1:1,127.0.0.1:2\n bind fd@3\n")
    assert [(b.port, b.fd) for b in config.proxies[0].binds] == [(1, None), (2, None), (0, 3)]


def test_unknown_keyword_names_file_line_and_closest(tmp_path):
    (error,) = errors_of(tmp_path, "global\n nbproc 1\nfrontend fe\n  bnd :80\n")
    assert error.startswith(f"parsing [{tmp_path}/t.cfg:4] : unknown keyword 'bnd' in 'frontend' section.")
    assert "Did you mean 'bind' maybe ?" in error


def test_several_errors_reported_together(tmp_path):
    errors = errors_of(tmp_path, "global\n nbproc x\n lua-lod f.lua\nlisten p\n timeout foo 1s\n")
    assert len(errors) == 2
    assert ":2]" in errors[0] and "integer" in errors[0]
    assert ":3]" in errors[1] and "'lua-load'" in errors[1]
    errors = errors_of(tmp_path, "listen p\n timeout foo 1s\n mode ftp\nlisten q\n retries -1\n")
    assert len(errors) == 3
    assert ":2]" in errors[0] and "unknown timeout 'foo'" in errors[0]
    assert ":3]" in errors[1] and "unknown proxy mode 'ftp'" in errors[1]
    assert ":5]" in errors[2] and "retries" in errors[2]


def test_keyword_in_wrong_section(tmp_path):
    (error,) = errors_of(tmp_path, "backend be\n bind :80\n")
    assert "'bind' is not allowed in a 'backend' section" in error


def test_missing_default_backend(tmp_path):
    (error,) = errors_of(tmp_path, "frontend fe\n bind :80\n default_backend app_backnd\nbackend app_backend\n")
    assert "default_backend 'app_backnd', which does not exist" in error
    assert "Did you mean 'app_backend' maybe ?" in error


def test_bad_addresses(tmp_path):
    errors = errors_of(tmp_path, "frontend fe\n bind 127.0.0.1\n bind 1.2.3.4:99999\nbackend b\n server s :80\n"
                                 " server t ${NO_SUCH_VAR}:x\n")
    assert "missing port" in errors[0]
    assert "invalid port '99999'" in errors[1]
    assert "invalid port 'x'" in errors[2] and len(errors) == 3  # ':80' is any address, as in haproxy


def test_lines_out_of_section_and_unsupported_sections(tmp_path):
    errors = errors_of(tmp_path, "nbproc 2\nuserlist users\n user a insecure-password b\n")
    assert "unknown keyword 'nbproc' out of section" in errors[0]
    assert "section 'userlist' is not supported" in errors[1]


def test_directory_loads_cfg_files_in_name_order(tmp_path):
    (tmp_path / "b.cfg").write_text("backend be\n server s 127.0.0.1:1\n")
    (tmp_path / "a.cfg").write_text("frontend fe\n bind :1\n default_backend be\n")
    (tmp_path / "c.txt").write_text("garbage")
    files, sections, settings = loader.load([str(tmp_path)])
    config = loader.parse_proxies(files, sections, settings)
    assert [p.name for p in config.proxies] == ["fe", "be"]
    assert config.proxies[0].id == 2 and config.proxies[1].id == 3


def test_user_and_uid_name_the_same_thing(tmp_path):
    errors = errors_of(tmp_path, "global\n user nobody\n uid 65534\n gid 65534\n group nogroup\n")
    assert [e.split("] : ", 1)[1] for e in errors] == [
        "user/uid already specified. Keep one of the two lines.",
        "group/gid already specified. Keep one of the two lines."]


def test_no_option_refuses_what_is_not_an_on_off_option(tmp_path):
    errors = errors_of(tmp_path, "defaults\n no option httplog\n no option forwardfor\n no option httpchk\n"
                                 " no option http-server-close\n")
    assert [e.split("] : ", 1)[1].split(" Only")[0] for e in errors] == [
        "negation/default is not supported for option 'httplog'.",
        "negation/default is not supported for option 'forwardfor'.",
        "negation/default is not supported for option 'httpchk'."]
