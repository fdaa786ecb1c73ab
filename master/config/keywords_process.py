"""Global keywords about the process itself: identity, chroot, environment, threads, stored TLS defaults.

``chroot``, ``user``/``uid`` and ``group``/``gid`` are applied by each worker
once the master has bound the listeners (see master/privileges.py).  The
``ssl-default-*`` family and other TLS paths are accepted and stored for the
TLS layer; ``tune.*`` keywords without a dedicated parser are stored as text.
"""

from __future__ import annotations

import grp
import os
import pwd

from .keywords import GLOBAL, expect_args, to_int
from .lexer import Line
from .model import GlobalSettings

G = ("global",)


@GLOBAL.register("chroot", G, "Directory the workers chroot into once the sockets are bound.")
def _chroot(g: GlobalSettings, line: Line) -> None:
    (g.chroot,) = expect_args(line, 1, 1, "a directory")


def _once(current: int | None, line: Line, what: str) -> None:
    """user and uid (group and gid) name the same thing: a second one is an error, as in haproxy 2.6."""
    if current is not None:
        raise line.error(f"{what} already specified.", "Keep one of the two lines.")


@GLOBAL.register("user", G, "User the workers run as (after binding).")
def _user(g: GlobalSettings, line: Line) -> None:
    (name,) = expect_args(line, 1, 1, "a user name")
    _once(g.uid, line, "user/uid")
    try:
        g.uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        raise line.error(f"unknown user '{name}'.", "Create it or use 'uid <number>'.") from None


@GLOBAL.register("uid", G, "Numeric user id the workers run as (after binding).")
def _uid(g: GlobalSettings, line: Line) -> None:
    (n,) = expect_args(line, 1, 1, "a user id")
    _once(g.uid, line, "user/uid")
    g.uid = to_int(line, n, "user id", 0)


@GLOBAL.register("group", G, "Group the workers run as (after binding).")
def _group(g: GlobalSettings, line: Line) -> None:
    (name,) = expect_args(line, 1, 1, "a group name")
    _once(g.gid, line, "group/gid")
    try:
        g.gid = grp.getgrnam(name).gr_gid
    except KeyError:
        raise line.error(f"unknown group '{name}'.", "Create it or use 'gid <number>'.") from None


@GLOBAL.register("gid", G, "Numeric group id the workers run as (after binding).")
def _gid(g: GlobalSettings, line: Line) -> None:
    (n,) = expect_args(line, 1, 1, "a group id")
    _once(g.gid, line, "group/gid")
    g.gid = to_int(line, n, "group id", 0)


@GLOBAL.register("nbthread", G, "Number of workers (luaproxy runs one process per haproxy thread).")
def _nbthread(g: GlobalSettings, line: Line) -> None:
    (n,) = expect_args(line, 1, 1, "a number of threads")
    g.nbproc = to_int(line, n, "number of threads", 1)


@GLOBAL.register("setenv", G, "setenv <name> <value>: set an environment variable.")
def _setenv(g: GlobalSettings, line: Line) -> None:
    name, value = expect_args(line, 2, 2, "a name and a value")
    os.environ[name] = value


@GLOBAL.register("presetenv", G, "presetenv <name> <value>: set a variable unless it is already set.")
def _presetenv(g: GlobalSettings, line: Line) -> None:
    name, value = expect_args(line, 2, 2, "a name and a value")
    os.environ.setdefault(name, value)


@GLOBAL.register("unsetenv", G, "unsetenv <name>...: remove environment variables.")
def _unsetenv(g: GlobalSettings, line: Line) -> None:
    for name in expect_args(line, 1, None, "one or more names"):
        os.environ.pop(name, None)


@GLOBAL.register("resetenv", G, "resetenv [<name>...]: remove every environment variable but these.")
def _resetenv(g: GlobalSettings, line: Line) -> None:
    keep = set(line.words[1:])
    for name in [n for n in os.environ if n not in keep]:
        del os.environ[name]


def _stored(g: GlobalSettings, line: Line) -> None:
    expect_args(line, 1, None, "a value")
    g.stored[line.words[0]] = line.words[1:]


def _flag(g: GlobalSettings, line: Line) -> None:
    expect_args(line, 0, 0, "no argument")
    g.stored[line.words[0]] = ()


for _name in ("key-base", "ssl-default-bind-sigalgs", "ssl-default-bind-client-sigalgs",
              "ssl-default-server-curves", "ssl-default-server-sigalgs", "ssl-default-server-client-sigalgs",
              "ssl-engine",
              "thread-groups", "cpu-map", "node", "description", "ulimit-n", "spread-checks", "max-spread-checks",
              "maxsslconn", "maxconnrate", "maxsessrate", "maxpipes", "maxzlibmem", "maxcomprate", "maxcompcpuusage",
              "localpeer", "unix-bind", "server-state-base", "server-state-file", "numa-cpu-mapping",
              "h1-case-adjust", "h1-case-adjust-file", "grace", "issuers-chain-path",
              "profiling.tasks", "profiling.memory", "busy-polling", "set-dumpable", "strict-limits"):
    GLOBAL.register(_name, G, "Accepted and stored (not used by luaproxy yet).")(_stored)

for _name in ("expose-experimental-directives", "insecure-fork-wanted", "insecure-setuid-wanted", "quiet",
              "noepoll", "nokqueue", "noevports", "nopoll", "nosplice", "nogetaddrinfo", "noreuseport",
              "zero-warning", "no-memory-trimming", "external-check", "ssl-mode-async"):
    GLOBAL.register(_name, G, "Accepted: no effect in luaproxy.")(_flag)



@GLOBAL.register_prefix("tune.", G, "Any other tune.* setting: stored as given.")
def _any_tune(g: GlobalSettings, line: Line) -> None:
    g.tune[line.words[0]] = " ".join(expect_args(line, 1, None, "a value"))
