"""HAProxy's reg-tests on luaproxy: every verdict must match tests/regtests/expectations.txt.

A test expected to pass that does not fails this suite; a test that passes
although expected to fail is printed, so the expectations file can be updated.
"""

from __future__ import annotations

import shutil

import pytest

from tests.regtests import runner


@pytest.mark.timeout(900)
def test_reg_tests_match_expectations(capsys: pytest.CaptureFixture[str]) -> None:
    if not runner.CORPUS.is_dir():
        pytest.skip(f"HAProxy's reg-tests are not at {runner.CORPUS} (shared/haproxy-reg-tests beside the repo)")
    if shutil.which("varnishtest") is None:
        pytest.skip("varnishtest is not installed (Debian package 'varnish')")
    expectations = runner.read_expectations()
    tests = runner.corpus_tests()
    unknown = sorted(set(tests) - set(expectations))
    outcomes = runner.run_all(tests, expectations)
    regressions, improvements = runner.compare(outcomes, expectations)
    regressions = runner.confirm(regressions)
    with capsys.disabled():
        print("\n" + runner.summary(outcomes))
        for outcome in improvements:
            print(f"reg-test now passes (update {runner.EXPECTATIONS.name}): {outcome.test}")
        for test in unknown:
            print(f"reg-test missing from {runner.EXPECTATIONS.name}: {test}")
    details = "\n\n".join(f"{o.test}: {o.verdict} ({o.seconds:.1f} s)\n{o.log[-2000:]}" for o in regressions)
    assert not regressions, f"{len(regressions)} reg-tests expected to pass did not:\n{details}"


def test_symlinks_stored_as_text_run_as_links(tmp_path) -> None:
    """A copy that stored a git symlink as a file naming its target runs from a tree where it is the link."""
    (tmp_path / "ssl").mkdir()
    (tmp_path / "ssl" / "common.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "common.pem").write_text("../ssl/common.pem")
    (tmp_path / "server" / "a.vtc").write_text("varnishtest \"a\"\n")
    tree = runner.runnable_corpus(tmp_path)
    assert tree != tmp_path
    assert (tree / "server" / "common.pem").read_text() == "-----BEGIN CERTIFICATE-----\n"
    assert (tree / "server" / "a.vtc").resolve() == tmp_path / "server" / "a.vtc"
    assert (tree / "ssl").resolve() == tmp_path / "ssl"
