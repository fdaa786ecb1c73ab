"""Run HAProxy's reg-tests (.vtc files) with varnishtest against luaproxy and compare with expectations.

The corpus lives beside the repository (``../shared/haproxy-reg-tests``); each
test runs in its own varnishtest process, a few at a time, and its verdict
(pass, fail or skip) is compared with ``expectations.txt``.  Tests expected to
fail get a short timeout, so the ones that would hang cost seconds, not minutes.
Symlinks the corpus copy holds as text files (``*/common.pem``) are run as the
links they stand for, from a scratch tree of links.

Run it directly to see every verdict or to rewrite the expectations:
``python -m tests.regtests.runner [--write] [DIR_OR_TEST ...]``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def find_corpus() -> Path:
    """``shared/haproxy-reg-tests`` beside the repository (or beside a folder holding it, as for worktrees)."""
    if "REGTESTS_DIR" in os.environ:
        return Path(os.environ["REGTESTS_DIR"])
    for parent in REPO.parents:
        candidate = parent / "shared" / "haproxy-reg-tests"
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "haproxy-reg-tests"


CORPUS = find_corpus()
EXPECTATIONS = Path(__file__).with_name("expectations.txt")
PASS_TIMEOUT = int(os.environ.get("REGTESTS_PASS_TIMEOUT", "30"))
FAIL_TIMEOUT = int(os.environ.get("REGTESTS_FAIL_TIMEOUT", "5"))
JOBS = int(os.environ.get("REGTESTS_JOBS", "4"))
VERDICTS = ("pass", "fail", "skip")


@dataclass(frozen=True, slots=True)
class Expectation:
    test: str
    verdict: str
    reason: str = ""

    def line(self) -> str:
        return f"{self.test} {self.verdict}" + (f" {self.reason}" if self.reason else "")


@dataclass(frozen=True, slots=True)
class Outcome:
    test: str
    verdict: str
    seconds: float
    log: str


def luaproxy_program() -> str:
    """The luaproxy of the Python running the tests (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("luaproxy")
    return str(beside) if beside.exists() else (shutil.which("luaproxy") or "luaproxy")


def read_expectations(path: Path = EXPECTATIONS) -> dict[str, Expectation]:
    found: dict[str, Expectation] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        test, verdict, *reason = text.split(maxsplit=2)
        if verdict not in VERDICTS:
            raise ValueError(f"{path}:{number}: verdict must be one of {VERDICTS}, got '{verdict}'")
        found[test] = Expectation(test, verdict, reason[0] if reason else "")
    return found


def write_expectations(expectations: dict[str, Expectation], path: Path = EXPECTATIONS) -> None:
    header = ("# HAProxy reg-tests (../shared/haproxy-reg-tests) on luaproxy: one line per test,\n"
              "# 'TEST pass', or 'TEST fail|skip REASON'. tests/regtests/runner.py --write refreshes it.\n")
    body = "\n".join(expectations[t].line() for t in sorted(expectations))
    path.write_text(header + body + "\n")


def corpus_tests(corpus: Path = CORPUS) -> list[str]:
    return sorted(str(p.relative_to(corpus)) for p in corpus.glob("*/*.vtc"))


def kill_left_behind(workdir_prefix: str) -> None:
    """SIGKILL what a varnishtest run left running: varnishtest starts each program in a session of its
    own, out of our process group, and does not always stop them (a failed teardown); they are known
    by their working directory, which varnishtest names after its own PID."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(entry / "cwd").startswith(workdir_prefix):
                os.kill(int(entry.name), signal.SIGKILL)


def link_stub_target(path: Path) -> Path | None:
    """What a git symlink checked out as a plain file (a few bytes naming its target, as in this copy's
    ``*/common.pem``) points to, or None for any other file."""
    if path.is_symlink() or not path.is_file() or path.stat().st_size > 255:
        return None
    try:
        text = path.read_text().strip()
    except (UnicodeDecodeError, OSError):
        return None
    target = path.parent / text
    return target.resolve() if text and "\n" not in text and target.is_file() else None


@functools.cache
def runnable_corpus(corpus: Path = CORPUS) -> Path:
    """The corpus as HAProxy's checkout has it: when some symlinks were stored as text, a scratch tree of
    real symlinks to the corpus (removed at exit) where each such file is the link it stands for."""
    stubs = {p: t for p in corpus.glob("*/*") if (t := link_stub_target(p)) is not None}
    if not stubs:
        return corpus
    root = Path(tempfile.mkdtemp(prefix="regtests-corpus."))
    atexit.register(shutil.rmtree, root, True)
    for entry in corpus.iterdir():
        if entry.is_dir() and any(p.parent == entry for p in stubs):
            (root / entry.name).mkdir()
            for item in entry.iterdir():
                (root / entry.name / item.name).symlink_to(stubs.get(item, item))
        else:
            (root / entry.name).symlink_to(entry)
    return root


def run_one(test: str, timeout: int, program: str, corpus: Path = CORPUS) -> Outcome:
    """One varnishtest run in its own process group, which is killed afterwards (leftover workers)."""
    path = runnable_corpus(corpus) / test
    env = dict(os.environ, HAPROXY_PROGRAM=program)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="regtest.") as tmp:
        command = ["varnishtest", "-t", str(timeout), f"-Dtestdir={path.parent}", f"-Dtmpdir={tmp}",
                   "-q", str(path)]
        proc = subprocess.Popen(command, cwd=path.parent, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout + 15)
        except subprocess.TimeoutExpired:
            out = b"runner: varnishtest itself did not end in time\n"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kill_left_behind(f"/tmp/vtc.{proc.pid}.")
    verdict = {0: "pass", 77: "skip"}.get(proc.returncode, "fail")
    return Outcome(test, verdict, time.monotonic() - started, out.decode("latin-1"))


START_ALLOWANCE = 2
"""Seconds of budget per luaproxy a test starts beyond the first (startup/default_rules.vtc starts 17:
about 1 s each on a loaded 2-core machine)."""


def instances(test: str, corpus: Path = CORPUS) -> int:
    """How many haproxy instances (``haproxy NAME -conf``) the test starts."""
    text = (corpus / test).read_text(errors="replace")
    return len(re.findall(r"^\s*haproxy\s+\S+\s+-conf\b", text, re.M))


def pass_timeout(test: str) -> int:
    """The budget of a test expected to pass: PASS_TIMEOUT, plus START_ALLOWANCE per extra instance."""
    return PASS_TIMEOUT + START_ALLOWANCE * max(instances(test) - 1, 0)


def run_all(tests: list[str], expectations: dict[str, Expectation], jobs: int = JOBS) -> list[Outcome]:
    program = luaproxy_program()

    def timeout_for(test: str) -> int:
        expected = expectations.get(test)
        if expected is None or expected.verdict == "pass":
            return pass_timeout(test)
        return FAIL_TIMEOUT

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda t: run_one(t, timeout_for(t), program), tests))


def confirm(regressions: list[Outcome]) -> list[Outcome]:
    """Run each regression again, alone: on a loaded machine a timing-sensitive test may fail once."""
    program = luaproxy_program()
    again = [run_one(o.test, pass_timeout(o.test), program) for o in regressions]
    return [o for o in again if o.verdict != "pass"]


def compare(outcomes: list[Outcome], expectations: dict[str, Expectation]) -> tuple[list[Outcome], list[Outcome]]:
    """(regressions, newly passing): a pass that no longer passes, and a non-pass that now passes."""
    regressions, improvements = [], []
    for outcome in outcomes:
        expected = expectations.get(outcome.test)
        wanted = expected.verdict if expected else "fail"
        if wanted == "pass" and outcome.verdict != "pass":
            regressions.append(outcome)
        elif wanted != "pass" and outcome.verdict == "pass":
            improvements.append(outcome)
    return regressions, improvements


def summary(outcomes: list[Outcome], passes_file: Path | None = None) -> str:
    """Pass count per directory, next to haproxy 2.6.12's when its list is there."""
    reference: set[str] = set()
    passes_file = passes_file or CORPUS / "haproxy-2.6.12-passes.txt"
    if passes_file.exists():
        reference = {line.strip() for line in passes_file.read_text().splitlines() if line.strip()}
    per_dir: dict[str, list[int]] = {}
    for outcome in outcomes:
        counts = per_dir.setdefault(outcome.test.split("/")[0], [0, 0, 0])
        counts[0] += outcome.verdict == "pass"
        counts[1] += outcome.test in reference
        counts[2] += 1
    lines = [f"{'directory':20} luaproxy haproxy-2.6.12 tests"]
    for name in sorted(per_dir):
        ours, theirs, total = per_dir[name]
        lines.append(f"{name:20} {ours:8} {theirs:14} {total:5}")
    totals = [sum(c[i] for c in per_dir.values()) for i in range(3)]
    lines.append(f"{'total':20} {totals[0]:8} {totals[1]:14} {totals[2]:5}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tests", nargs="*", help="directories or .vtc paths relative to the corpus")
    parser.add_argument("--write", action="store_true", help="record these verdicts in expectations.txt")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the log of every non-pass")
    parser.add_argument("-j", "--jobs", type=int, default=JOBS)
    args = parser.parse_args(argv)
    expectations = read_expectations() if EXPECTATIONS.exists() else {}
    every = corpus_tests()
    tests = [t for t in every if not args.tests or any(t == s or t.startswith(s.rstrip("/") + "/")
                                                         for s in args.tests)]
    started = time.monotonic()
    outcomes = run_all(tests, expectations, args.jobs)
    for outcome in sorted(outcomes, key=lambda o: o.test):
        expected = expectations.get(outcome.test)
        note = f"  (expected {expected.verdict}: {expected.reason})" if expected and expected.reason else ""
        print(f"{outcome.verdict:4} {outcome.seconds:5.1f}s {outcome.test}{note}")
        if args.verbose and outcome.verdict != "pass":
            print(outcome.log[-3000:])
    print(summary(outcomes))
    print(f"{len(tests)} tests in {time.monotonic() - started:.0f} s")
    if args.write:
        for outcome in outcomes:
            old = expectations.get(outcome.test)
            reason = old.reason if old and old.verdict != "pass" and outcome.verdict != "pass" else ""
            if outcome.verdict != "pass" and not reason:
                reason = "not investigated yet"
            expectations[outcome.test] = Expectation(outcome.test, outcome.verdict, reason)
        write_expectations(expectations)
    regressions, _ = compare(outcomes, expectations)
    return 1 if confirm(regressions) else 0


if __name__ == "__main__":
    sys.exit(main())
