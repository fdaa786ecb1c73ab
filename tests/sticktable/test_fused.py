"""``track-scN KEY`` followed by a rule checking ``sc_<rate>(N)`` runs as one rule (actions_stick.fuse):
the same verdicts, counts and ``last_rule`` as the two rules, and the rules it must not fuse stay two."""

from __future__ import annotations

import logging
from pathlib import Path

from luaproxy.master import reload
from luaproxy.worker.proxy import Proxy
from luaproxy.worker.rules.evaluate import run_rules
from luaproxy.worker.rules.verdict import ACCEPT, REJECT
from luaproxy.worker.samples import Vars
from luaproxy.worker.sticktable.tracking import Trackers
from luaproxy.worker.txn import Transaction


def _frontend(tmp_path: Path, rules: str) -> Proxy:
    return _proxies(tmp_path, rules)["fe"]


def _proxies(tmp_path: Path, rules: str) -> dict[str, Proxy]:
    """Frontend ``fe`` with *rules* (which may open more sections) and backend ``other``, by name."""
    (tmp_path / "f.cfg").write_text(f"""defaults
   mode http
   timeout connect 2s
   timeout client 10s
   timeout server 10s
frontend fe
   bind 127.0.0.1:0
   stick-table type ip size 10 expire 60s store http_req_rate(10s),http_err_rate(10s),conn_cur
{rules}
backend other
   stick-table type ip size 10 expire 60s store http_req_rate(10s)
""")
    return {proxy.name: proxy for proxy in reload.load([str(tmp_path / "f.cfg")], logging.getLogger("test")).proxies}


def _request(frontend: Proxy, trackers: Trackers, src: str = "10.0.0.1") -> Transaction:
    """One request's http-request rules, as the HTTP stream runs them; its stream ends after."""
    txn = Transaction(None, frontend, None, None, None, 0, {}, (1, 1), Vars({}, {}),  # type: ignore[arg-type]
                      ((src, 5000), ("127.0.0.1", 80)))
    txn.http_mode = True
    txn.stkctr = trackers
    if trackers.ended:
        trackers.begin_stream()
    txn.verdict = run_rules(frontend.ruleset("http-request"), txn)  # type: ignore[attr-defined]
    trackers.end_stream(200, 0, 0, False, True)
    return txn


def _rate(frontend: Proxy, src: str = "10.0.0.1") -> int | None:
    table = frontend.table
    return table.value(table.lookup(bytes(int(x) for x in src.split("."))), "http_req_rate")


def test_the_usual_pair_is_one_rule_denying_past_the_limit(tmp_path: Path) -> None:
    fe = _frontend(tmp_path, """   http-request track-sc0 src
   http-request deny deny_status 429 if { sc_http_req_rate(0) gt 2 }""")
    rules = fe.ruleset("http-request")
    assert len(rules) == 1 and rules[0].condition is None and rules[0].where.endswith(":10")
    trackers = Trackers()
    verdicts = [_request(fe, trackers).verdict for _ in range(4)]  # type: ignore[attr-defined]
    assert verdicts == [ACCEPT, ACCEPT, REJECT, REJECT]
    assert _rate(fe) == 4
    last = _request(fe, trackers)
    assert last.last_rule == rules[0].where and last.reply.status == 429  # type: ignore[union-attr]
    assert _request(fe, Trackers(), "10.0.0.2").verdict is ACCEPT  # type: ignore[attr-defined]
    assert fe.table.refs(fe.table.lookup(bytes((10, 0, 0, 1)))) == 0


def test_unless_and_a_second_counter(tmp_path: Path) -> None:
    fe = _frontend(tmp_path, """   http-request track-sc1 src
   http-request deny unless { sc_http_req_rate(1) le 1 }""")
    assert len(fe.ruleset("http-request")) == 1
    trackers = Trackers()
    assert [_request(fe, trackers).verdict for _ in range(3)] == [ACCEPT, REJECT, REJECT]  # type: ignore[attr-defined]


def test_what_is_not_the_usual_pair_stays_two_rules(tmp_path: Path) -> None:
    for rules in ("   http-request track-sc0 src\n   http-request deny if { sc_http_err_rate(0) gt 2 }",
                  "   http-request track-sc0 src\n   http-request deny if { sc_http_req_rate(1) gt 2 }",
                  "   http-request track-sc0 src\n   http-request deny if { sc_http_req_rate(0,other) gt 2 }",
                  "   http-request track-sc0 src if TRUE\n   http-request deny if { sc_http_req_rate(0) gt 2 }",
                  "   http-request track-sc0 src table other\n   http-request deny if { sc_http_req_rate(0) gt 2 } "
                  "|| { sc_http_req_rate(0) gt 3 }",
                  "   acl many sc_http_req_rate(0) gt 2\n   http-request track-sc0 src\n   http-request deny if many"):
        assert len(_frontend(tmp_path, rules).ruleset("http-request")) == 2, rules


def test_rules_of_every_kind_around_a_track_compile(tmp_path: Path) -> None:
    """Lua actions (slotted objects) and other actions before or after a tracking: nothing to fuse, no error."""
    (tmp_path / "a.lua").write_text('core.register_action("tag", {"http-req"}, function(txn) end)\n')
    rules = ("   http-request lua.tag\n   http-request track-sc0 src\n   http-request lua.tag\n"
             "   http-request set-header x-a b\n   http-request deny if { sc_http_req_rate(0) gt 2 }")
    (tmp_path / "f.cfg").write_text(f"""global
   lua-load {tmp_path / "a.lua"}
defaults
   mode http
   timeout client 10s
frontend fe
   bind 127.0.0.1:0
   stick-table type ip size 10 expire 60s store http_req_rate(10s)
{rules}
""")
    proxy = reload.load([str(tmp_path / "f.cfg")], logging.getLogger("test")).proxies[0]
    assert len(proxy.ruleset("http-request")) == 5


def test_a_counter_tracked_already_is_read_not_tracked_again(tmp_path: Path) -> None:
    """A counter the session tracks: the rule does not track, the condition reads the session's entry."""
    fe = _frontend(tmp_path, """   http-request track-sc0 src
   http-request deny if { sc_http_req_rate(0) gt 0 }""")
    trackers = Trackers()
    other = bytes((10, 0, 0, 9))
    trackers.track(0, fe.table, other, session=True, http=False)
    assert _request(fe, trackers).verdict is ACCEPT  # type: ignore[attr-defined]
    assert fe.table.lookup(bytes((10, 0, 0, 1))) < 0
    fe.table.count(trackers.slots[0].idx, "http_req")  # type: ignore[union-attr]
    assert _request(fe, trackers).verdict is REJECT  # type: ignore[attr-defined]
    trackers.end_session()


def test_a_full_table_tracks_nothing_and_matches_nothing(tmp_path: Path) -> None:
    fe = _frontend(tmp_path, """   http-request track-sc0 src
   http-request deny unless { sc_http_req_rate(0) ge 0 }""")
    for n in range(10):  # every entry referenced: none can be evicted
        fe.table.track(bytes((10, 1, 0, n)))
    assert _request(fe, Trackers()).verdict is REJECT  # type: ignore[attr-defined]


def test_the_limit_follows_the_list_changed_at_run_time(tmp_path: Path) -> None:
    """The fused rule keeps the least rate its patterns match; ``add acl``, ``del acl`` and a pattern that
    is no open range (read through the list's index) change what it denies at once."""
    (tmp_path / "f.cfg").write_text("""defaults
   mode http
   timeout client 10s
frontend fe
   bind 127.0.0.1:0
   stick-table type ip size 10 expire 60s store http_req_rate(10s)
   http-request track-sc0 src
   http-request deny if { sc_http_req_rate(0) gt 5 }
""")
    generation = reload.load([str(tmp_path / "f.cfg")], logging.getLogger("test"))
    fe = generation.proxies[0]
    ref = next(r for r in generation.library.refs("acl") if any(e.key == "6:" for e in r.entries()))
    trackers = Trackers()
    assert [_request(fe, trackers).verdict for _ in range(2)] == [ACCEPT, ACCEPT]  # type: ignore[attr-defined]
    entry = generation.library.add_acl_entry(ref, "3:")
    assert _request(fe, trackers).verdict is REJECT  # type: ignore[attr-defined]
    ref.delete(f"#{entry.ref_id:x}")
    assert _request(fe, trackers).verdict is ACCEPT  # type: ignore[attr-defined]
    ref.clear()
    assert _request(fe, trackers).verdict is ACCEPT  # type: ignore[attr-defined]
    generation.library.add_acl_entry(ref, "6")  # an exact value: no longer an open range
    assert [_request(fe, trackers).verdict for _ in range(2)] == [REJECT, ACCEPT]  # type: ignore[attr-defined]


def test_a_fused_rule_on_another_key_counts_its_own_key(tmp_path: Path) -> None:
    """A connection's requests may meet two fused rules on the same counter and table (a frontend's on
    ``src``, a backend's on another key): the second counts its own key, not the first one's by the
    address text the first kept."""
    proxies = _proxies(tmp_path, """   http-request track-sc0 src
   http-request deny if { sc_http_req_rate(0) gt 100 }
backend by_dst
   http-request track-sc0 dst table fe
   http-request deny if { sc_http_req_rate(0) gt 100 }""")
    fe, by_dst = proxies["fe"], proxies["by_dst"]
    assert len(by_dst.ruleset("http-request")) == 1
    trackers = Trackers()
    _request(fe, trackers)
    _request(by_dst, trackers)
    assert _rate(fe) == 1 and _rate(fe, "127.0.0.1") == 1
