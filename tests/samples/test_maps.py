"""Map files, map converters, the shared pattern library and its runtime operations.

Behaviours and messages were checked on haproxy 2.6 through its stats socket
(``show map``, ``add/set/del/clear/prepare/commit map``, ``get map``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from luaproxy.worker.samples import PatternLibrary, SampleError, SampleRegistry, parse_expr, to_text
from luaproxy.worker.samples.patterns import Method
from tests.samples.streamkit import Stream

FILES = {
    "s.map": (
        "# comment\n/a x\n/ab y\n   /abc   z with  spaces  \t\n #k hashkey\ndup 1\ndup 2\nFoo bar\n\n/dir dirval\n"
    ),
    "n.map": "example 10\n.com 20\n",
    "ip.map": "10.0.0.0/8 8\n10.1.0.0/16 16\n10.1.2.3 32\n::1 1\n2001:db8::/32 9\n10.2.0.0/255.0.255.0 99\n",
    "ipv.map": "10.0.0.0/8 1.1.1.1\n::/0 ::2\n",
    "i.map": "1 one\n5:10 five-ten\n:0 nonpos\n20: big\n",
    "ii.map": "1 2\n5:10 7\n",
    "iip.map": "1 9.9.9.9\n",
    "d.map": "a.example.com 1\n/static 2\n",
    "dv.map": "a.example.com 3.3.3.3\n/static 4.4.4.4\n",
    "r.map": "^/d(.)r/(.*)$ R:\\1:\\2\npage P\n",
    "ri.map": "^/d 5\n",
    "rip.map": "^/d 5.5.5.5\n",
}

MAP_CASES = [
    ("str(/ab),map(s.map)", "y"),
    ("str(/abc),map_str(s.map)", "z with  spaces"),
    ("str(#k),map(s.map)", "hashkey"),
    ("str(dup),map(s.map)", "1"),
    ("str(zz),map(s.map,D)", "D"),
    ("str(zz),map(s.map)", None),
    ("str(/abcd),map_beg(s.map)", "z with  spaces"),
    ("str(/static/x),map_beg_int(d.map)", "2"),
    ("str(/static/x),map_beg_ip(dv.map)", "4.4.4.4"),
    ("str(xdupx),map_sub(s.map)", "1"),
    ("str(xx/staticx),map_sub_int(d.map)", "2"),
    ("str(xx/staticx),map_sub_ip(dv.map)", "4.4.4.4"),
    ("str(/dir/page),map_dir(s.map)", "dirval"),
    ("str(/static/x),map_dir_int(d.map)", "2"),
    ("str(/static/x),map_dir_ip(dv.map)", "4.4.4.4"),
    ("str(www.a.example.com),map_dom(s.map,none)", "x"),
    ("str(www.b.example.com),map_dom(s.map,none)", "none"),
    ("str(a.example.com:80),map_dom_int(d.map)", "1"),
    ("str(a.example.com:80),map_dom_ip(dv.map)", "3.3.3.3"),
    ("str(zz.com),map_end(n.map)", "20"),
    ("str(zz.com),map_end_int(n.map)", "20"),
    ("str(/static),map_end_ip(dv.map)", "4.4.4.4"),
    ("str(example),map_str_int(n.map)", "10"),
    ("str(example),map_str_ip(dv.map,1.2.3.4)", "1.2.3.4"),
    ("str(/dir/page.html),map_reg(r.map)", "R:\\1:\\2"),
    ("str(/dir/page.html),map_regm(r.map)", "R:i:page.html"),
    ("str(/dx),map_reg_int(ri.map)", "5"),
    ("str(/dx),map_reg_ip(rip.map)", "5.5.5.5"),
    ("int(7),map_int(i.map)", "five-ten"),
    ("int(-3),map_int(i.map)", "nonpos"),
    ("int(30),map_int(i.map)", "big"),
    ("int(15),map_int(i.map,no)", "no"),
    ("int(7),map_int_int(ii.map)", "7"),
    ("int(1),map_int_ip(iip.map)", "9.9.9.9"),
    ("str(10.1.2.3),map_ip(ip.map)", "32"),
    ("str(10.1.9.9),map_ip(ip.map)", "16"),
    ("str(10.9.9.9),map_ip(ip.map)", "8"),
    ("str(11.2.0.9),map_ip(ip.map)", None),
    ("str(11.2.0.9),map_ip(ip.map,none)", "none"),
    ("str(::ffff:10.1.2.3),map_ip(ip.map)", "32"),
    ("str(::10.1.2.3),map_ip(ip.map)", "32"),
    ("str(2002:a01:203::),map_ip(ip.map)", "32"),
    ("str(2001:db8::5),map_ip_int(ip.map)", "9"),
    ("str(::1),map_ip_int(ip.map)", "1"),
    ("int(167838211),map_ip(ip.map)", "32"),
    ("str(10.9.9.9),map_ip_ip(ipv.map)", "1.1.1.1"),
    ("str(::5),map_ip_ip(ipv.map)", "::2"),
]


@pytest.fixture
def lib(tmp_path: Path) -> PatternLibrary:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, encoding="latin-1")
    return PatternLibrary(str(tmp_path))


def run(text: str, registry: SampleRegistry, lib: PatternLibrary) -> str | None:
    return to_text(parse_expr(text, registry, lib).evaluate(Stream()))


@pytest.mark.parametrize(("text", "expected"), MAP_CASES, ids=[t for t, _ in MAP_CASES])
def test_map_converter(text: str, expected: str | None, registry: SampleRegistry, lib: PatternLibrary) -> None:
    assert run(text, registry, lib) == expected


def test_map_beg_prefers_the_longest_prefix(registry: SampleRegistry, lib: PatternLibrary) -> None:
    # haproxy 2.6 keeps case-sensitive prefixes in a tree: /abcd -> "/abc", /abx -> "/ab".
    assert run("str(/abx),map_beg(s.map)", registry, lib) == "y"
    assert run("str(/b),map_beg(s.map,none)", registry, lib) == "none"


@pytest.mark.parametrize(
    ("name", "text", "expr", "message"),
    [
        ("v.map", "a 1\n\nb x\n", "str(a),map_str_int(v.map)", "unable to parse 'x' at line 3 of file 'v.map'"),
        ("k.map", "1 a\nfoo b\n", "int(1),map_int(k.map)", "'foo' is not a number at line 2 of file 'k.map'"),
        ("r.map", "1:x a\n", "int(1),map_int(r.map)", "'1:x' is not a valid number range at line 1 of file 'r.map'"),
        ("p.map", "1.2.3.4 a\n1.2.3 b\n", "src,map_ip(p.map)", "'1.2.3' is not a valid IPv4 or IPv6 address at line 2"),
        ("e.map", "ok a\n( b\n", "str(a),map_reg(e.map)", "regex '(' is invalid"),
        ("w.map", "a 1\n", "str(a),map_str_int(w.map,zz)", "failed to parse 'zz' as type 'integer' at position 2"),
        ("x.map", "a 1.1.1.1\n", "str(a),map_str_ip(x.map,zz)", "unable to parse 'zz'"),
    ],
)
def test_map_file_errors_name_file_and_line(
    name: str, text: str, expr: str, message: str, registry: SampleRegistry, tmp_path: Path
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(SampleError) as err:
        parse_expr(expr, registry, PatternLibrary(str(tmp_path)))
    assert message in err.value.message
    assert err.value.message.startswith("invalid arg")


def test_missing_map_file(registry: SampleRegistry, lib: PatternLibrary) -> None:
    with pytest.raises(SampleError, match=re.escape("failed to open pattern file </nonexistent.map>")):
        parse_expr("str(a),map(/nonexistent.map)", registry, lib)
    with pytest.raises(SampleError, match="no pattern library"):
        parse_expr("str(a),map(s.map)", registry)


def test_same_file_is_one_shared_list_with_ids(registry: SampleRegistry, lib: PatternLibrary) -> None:
    parse_expr("str(a),map(s.map)", registry, lib, origin=("h.cfg", 3))
    parse_expr("str(a),map_beg(s.map)", registry, lib, origin=("h.cfg", 4))
    parse_expr("int(1),map_int(i.map)", registry, lib)
    refs = lib.refs("map")
    assert [r.name for r in refs] == ["s.map", "i.map"]
    assert [r.id for r in refs] == [0, 1]
    ref = lib.find("s.map")
    assert lib.find("#0") is ref
    assert ref.display == (
        "pattern loaded from file 's.map' used by map at file 'h.cfg' line 3, by map at file 'h.cfg' line 4"
    )
    keys = [(e.key, e.value) for e in ref.entries()]
    assert keys[:4] == [("/a", "x"), ("/ab", "y"), ("/abc", "z with  spaces"), ("#k", "hashkey")]
    assert len({e.ref_id for e in ref.entries()}) == ref.entry_count() == 8
    with pytest.raises(SampleError, match=r"^Unknown map identifier\. Please use #<id> or <file>\.$"):
        lib.find("nope.map")
    with pytest.raises(SampleError, match="Unknown acl identifier"):
        lib.find("#0", "acl")


def test_runtime_add_set_del_clear(registry: SampleRegistry, lib: PatternLibrary) -> None:
    expr = parse_expr("str(/new),map(s.map,none)", registry, lib)
    ref = lib.find("s.map")
    ctx = Stream()
    assert to_text(expr.evaluate(ctx)) == "none"
    ref.add("/new", "N1")
    ref.add("/new", "N2")
    assert to_text(expr.evaluate(ctx)) == "N1"
    assert ref.set("/new", "S") == 2
    assert to_text(expr.evaluate(ctx)) == "S"
    first = ref.entries()[-2]
    assert ref.set(f"#{first.ref_id:x}", "ONE") == 1
    assert to_text(expr.evaluate(ctx)) == "ONE"
    assert ref.delete(f"#{first.ref_id:x}") == 1
    assert to_text(expr.evaluate(ctx)) == "S"
    assert ref.delete("dup") == 2
    with pytest.raises(SampleError, match=r"^entry not found\.$"):
        ref.set("nokey", "v")
    with pytest.raises(SampleError, match=r"^Key not found\.$"):
        ref.delete("nokey")
    with pytest.raises(SampleError, match=r"^Key not found\.$"):
        ref.delete("#zz")
    ref.clear()
    assert ref.entries() == []
    assert to_text(expr.evaluate(ctx)) == "none"


def test_runtime_add_checks_keys_and_values_against_every_use(registry: SampleRegistry, lib: PatternLibrary) -> None:
    parse_expr("int(1),map_int(i.map)", registry, lib)
    parse_expr("src,map_ip_int(ip.map)", registry, lib)
    with pytest.raises(SampleError, match=r"^'abc' is not a number\.$"):
        lib.find("i.map").add("abc", "1")
    with pytest.raises(SampleError, match=r"^'1\.2\.3\.x' is not a valid IPv4 or IPv6 address\.$"):
        lib.find("ip.map").add("1.2.3.x", "1")
    with pytest.raises(SampleError, match=r"^unable to parse 'v'\.$"):
        lib.find("ip.map").add("1.2.3.4", "v")
    with pytest.raises(SampleError, match=r"^unable to parse 'v'\.$"):
        lib.find("ip.map").set("::1", "v")
    assert lib.find("ip.map").entry_count() == 6


def test_versions_prepare_add_commit(registry: SampleRegistry, lib: PatternLibrary) -> None:
    expr = parse_expr("str(/a),map(s.map,none)", registry, lib)
    ref = lib.find("s.map")
    ctx = Stream()
    assert ref.prepare() == 1
    assert ref.prepare() == 2
    ref.add("/a", "v1", version=1)
    ref.add("/a", "v2", version=2)
    with pytest.raises(SampleError, match=r"^Version number in the future, please use 'prepare map' before\.$"):
        ref.add("/a", "v5", version=5)
    assert [e.value for e in ref.entries(1)] == ["v1"]
    assert to_text(expr.evaluate(ctx)) == "x"
    ref.commit(1)
    assert (ref.curr_ver, ref.next_ver) == (1, 2)
    assert to_text(expr.evaluate(ctx)) == "v1"
    assert [e.value for e in ref.entries(2)] == ["v2"]
    with pytest.raises(SampleError, match=r"^Version number out of range\.$"):
        ref.commit(1)
    with pytest.raises(SampleError, match=r"^Version number out of range\.$"):
        ref.commit(7)
    ref.commit(2)
    assert [e.value for e in ref.entries()] == ["v2"]
    assert ref.entry_count() == 1
    ref.prepare()
    ref.commit(3)
    assert to_text(expr.evaluate(ctx)) == "none"


def test_clear_one_version_only(registry: SampleRegistry, lib: PatternLibrary) -> None:
    ref = lib.load_map("s.map")
    ref.prepare()
    ref.add("k", "v", version=1)
    ref.clear(1)
    assert ref.entries(1) == []
    assert len(ref.entries()) == 8


def test_get_map_reports_each_way_of_matching(registry: SampleRegistry, lib: PatternLibrary) -> None:
    for text in ("str(a),map_beg(s.map)", "str(a),map(s.map)", "str(a),map_str(s.map)", "str(a),map_sub(s.map)"):
        parse_expr(text, registry, lib)
    reports = lib.find("s.map").get("/abc")
    assert [(r.method, r.found, r.kind, r.key, r.value) for r in reports] == [
        ("beg", True, "tree", "/abc", "z with  spaces"),
        ("str", True, "tree", "/abc", "z with  spaces"),
        ("sub", True, "list", "/a", "x"),
    ]
    assert reports[0].value_type == "string"
    assert [r.found for r in lib.find("s.map").get("/zz")] == [False, False, False]


def test_acl_files_and_shared_add(registry: SampleRegistry, tmp_path: Path) -> None:
    (tmp_path / "a.acl").write_text("abc\n  def\n#x\n ghi jkl \n")
    lib = PatternLibrary(str(tmp_path))
    ref = lib.load_acl_file("a.acl", ("h.cfg", 10))
    assert [e.key for e in ref.entries()] == ["abc", "def", "ghi jkl "]
    assert lib.find("a.acl", "acl") is ref
    lib.add_acl_entry(ref, "newpat")
    index = ref.index(Method.STR)
    assert ref.lookup(index, "newpat") is not None
    shared = lib.load_map("a.acl")
    assert shared is ref
    with pytest.raises(SampleError, match="shared with a map"):
        lib.add_acl_entry(ref, "x")
