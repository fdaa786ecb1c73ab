"""Bad configurations get a clear error naming file:line, never a Python traceback.

The fuzzer mutates valid configurations at random (seeded, so a failure can be
replayed with its seed) and checks each through the ``-c`` entry point: a
batch in one process for numbers, and some through the real ``luaproxy -c``.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import LUAPROXY

SEEDS = [
    """
    global
       nbproc 2
       maxconn 100
       lua-load fuzz.lua
       tune.lua.forced-yield 5000
       tune.lua.maxmem 64
       tune.lua.session-timeout 2s
       tune.bufsize 16384
       stats socket 127.0.0.1:1 level admin
       stats timeout 10s
       log stdout format raw local0 info
    defaults
       mode http
       log global
       option httplog
       timeout connect 1s
       timeout client 5s
       timeout server 5s
       timeout tunnel 1h
       retries 2
    frontend fe
       bind 127.0.0.1:1
       acl is_api path_beg /api
       http-request deny deny_status 429 if { src 10.0.0.0/8 }
       http-request set-header X-Test %[src] if is_api
       http-request lua.hello
       use_backend api if is_api
       default_backend web
    backend api
       balance uri
       hash-type consistent
       option httpchk GET /health
       server a1 127.0.0.1:2 check inter 2s rise 2 fall 3 weight 10 maxconn 5
    backend web
       balance roundrobin
       timeout queue 2s
       server w1 127.0.0.1:3 maxconn 10
       server w2 127.0.0.1:4 backup
    """,
    """
    global
       nbproc 1
       lua-load fuzz.lua
    defaults
       mode tcp
       timeout connect 1s
       timeout client 5s
       timeout server 5s
    listen tcp
       bind 127.0.0.1:1
       tcp-request inspect-delay 1s
       tcp-request content accept if { req.len gt 0 }
       tcp-request content lua.hello
       balance leastconn
       server s1 127.0.0.1:2
    """,
]

HOSTILE = ["0", "-1", "-99999999999999999999", "1.5", "abc", "99999999999999999999999", "1e9", "",
           "%[", "%[src,", "{", "}", "if", "unless", "\\", "\"", "${NOPE}", "127.0.0.1:99999", ":",
           "0x10", "1h1h", "10zs", "nan", "inf", "\x00", "é", "/dev/null", "lua.", "lua.nope", "backend"]

LUA = 'core.register_action("hello", {"http-req", "tcp-req"}, function(txn) end)\n'


def mutate(text: str, rng: random.Random) -> str:
    lines = text.strip("\n").splitlines()
    for _ in range(rng.randint(1, 3)):
        index = rng.randrange(len(lines))
        words = lines[index].split()
        choice = rng.randrange(7)
        if choice == 0 and words:
            words[rng.randrange(len(words))] = rng.choice(HOSTILE)
        elif choice == 1 and words:
            del words[rng.randrange(len(words))]
        elif choice == 2:
            lines.insert(index, lines[index])
            continue
        elif choice == 3:
            del lines[index]
            if not lines:
                lines = ["global"]
            continue
        elif choice == 4 and words:
            word = rng.randrange(len(words))
            cut = rng.randrange(len(words[word]) + 1)
            words[word] = words[word][:cut] + rng.choice(HOSTILE) + words[word][cut:]
        elif choice == 5 and len(words) > 1:
            a, b = rng.sample(range(len(words)), 2)
            words[a], words[b] = words[b], words[a]
        else:
            words.append(rng.choice(HOSTILE))
        lines[index] = "   " + " ".join(words) if index and lines[index].startswith(" ") else " ".join(words)
    return "\n".join(lines) + "\n"


CHECKER = """
import contextlib, io, json, sys, traceback
from luaproxy.master.__main__ import main
results = []
for path in json.loads(sys.argv[1]):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(["-c", "-q", "-f", path])
        results.append([path, code, ""])
    except SystemExit as exc:
        results.append([path, exc.code, ""])
    except BaseException:
        results.append([path, -1, traceback.format_exc()])
print(json.dumps(results))
"""


def write_mutants(directory: Path, count: int, seed: int) -> list[Path]:
    rng = random.Random(seed)
    (directory / "fuzz.lua").write_text(LUA)
    paths = []
    for number in range(count):
        path = directory / f"mutant{number}.cfg"
        path.write_text(mutate(rng.choice(SEEDS), rng), encoding="utf-8", errors="surrogateescape")
        paths.append(path)
    return paths


def test_random_mutations_never_raise_a_traceback(tmp_path):
    seed = random.randrange(1 << 30)
    paths = write_mutants(tmp_path, 200, seed)
    done = subprocess.run([sys.executable, "-c", CHECKER, json.dumps([str(p) for p in paths])], cwd=tmp_path,
                          capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.splitlines()[-1])
    crashes = [(path, trace) for path, code, trace in results if code not in (0, 1)]
    assert not crashes, f"seed {seed}: {crashes[0][0]}:\n{Path(crashes[0][0]).read_text()}\n{crashes[0][1]}"


def test_mutations_through_the_real_command_line(tmp_path):
    seed = random.randrange(1 << 30)
    paths = write_mutants(tmp_path, 6, seed)
    runs = [(p, subprocess.Popen([*LUAPROXY, "-c", "-f", str(p)], cwd=tmp_path, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)) for p in paths]
    for path, run in runs:
        output, _ = run.communicate(timeout=60)
        assert run.returncode in (0, 1) and "Traceback" not in output, f"seed {seed}, {path}:\n{output}"


@pytest.mark.parametrize("line", [
    "tune.lua.forced-yield 0", "tune.lua.forced-yield -1", "tune.lua.forced-yield 1.5",
    "tune.lua.forced-yield 99999999999999", "tune.lua.maxmem abc", "tune.lua.maxmem -5",
    "tune.lua.maxmem 99999999999999999999999", "tune.lua.maxmem 1.5",
])
def test_lua_tunables_are_validated(tmp_path, line):
    """Before: 0 or negative turned the Lua time limit off, the others raised tracebacks or passed."""
    (tmp_path / "t.cfg").write_text(f"global\n   {line}\nlisten x\n   bind 127.0.0.1:1\n")
    done = subprocess.run([*LUAPROXY, "-c", "-f", "t.cfg"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "t.cfg:2" in done.stderr and line.split()[0] in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("line", [
    "global\n   lua-load x\x00.lua", "defaults\n   errorfile 503 x\x00y",
    "listen y\n   http-request return status 200 file x\x00y", "listen y\n   http-request deny if { src -f x\x00y }",
])
def test_a_nul_in_a_file_name_is_a_config_error(tmp_path, line):
    """Found by the fuzzer: open() raised ValueError, a traceback."""
    (tmp_path / "t.cfg").write_text(f"defaults\n   mode http\n{line}\nlisten x\n   bind 127.0.0.1:1\n")
    done = subprocess.run([*LUAPROXY, "-c", "-f", "t.cfg"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "t.cfg:" in done.stderr and "Traceback" not in done.stderr, done.stderr
