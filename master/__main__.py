"""The ``luaproxy`` command: haproxy's flags, then the master's start-up steps.

Start-up is a fixed sequence: parse the global sections, run the Lua body
context, parse and compile the proxies, run the Lua init functions, bind the
listeners, then hand over to the arbiter, which forks the workers.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import signal
import socket
import ssl
import sys
from collections.abc import Callable

from setproctitle import setproctitle

from luaproxy.lua_api.core_extras import worker_facts
from luaproxy.lua_api.runtime import LUA_VERSION
from luaproxy.lua_api.tasks import TaskLauncher
from luaproxy.worker.context import WorkerContext
from luaproxy.worker.http import splicing
from luaproxy.worker.log import Logger, report_pid
from luaproxy.worker.process import BoundSocket, WorkerSpec

from . import lua_boot, pidfile, reload
from .arbiter import Arbiter
from .config.errors import ConfigErrors
from .config.keywords_global import configure_logger
from .entry import check_condition
from .management import addresses
from .privileges import Privileges
from .sockets import BindError, Listening, bind_all
from .version import FEATURES, VERSION

HELP_EPILOG = """\
signals (to the master):
  SIGUSR2, SIGHUP  reload: re-read the configuration and Lua files, new workers take over
  SIGUSR1          soft stop: stop accepting, finish what is served (bounded by hard-stop-after)
  SIGTERM, SIGQUIT stop now (exit 0); SIGINT stops and exits 130

examples:
  luaproxy -c -f /etc/luaproxy/luaproxy.cfg
      check a configuration: every error with file:line, exit 1 if any
  luaproxy -Ws -f /etc/luaproxy/luaproxy.cfg -p /run/luaproxy/luaproxy.pid -S /run/luaproxy/master.sock
      run under systemd (sd_notify), with a pidfile and a master CLI socket
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="luaproxy", description="Lua-scriptable TCP/HTTP proxy "
                                     "running HAProxy configurations and HAProxy's Lua API.",
                                     epilog=HELP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    config = parser.add_argument_group("configuration")
    config.add_argument("-f", dest="files", action="append", default=[], metavar="FILE|DIR",
                        help="configuration file or directory of *.cfg files (repeatable)")
    config.add_argument("-c", dest="check", action="store_true", help="check the configuration and exit")
    config.add_argument("-cc", dest="condition", metavar="EXPR", help="evaluate a condition, exit 0 if true")
    mode = parser.add_argument_group("process mode")
    mode.add_argument("-d", dest="debug", action="store_true",
                      help="debug mode: foreground, connections and requests printed on stdout")
    mode.add_argument("-db", dest="no_background", action="store_true", help="stay in the foreground")
    mode.add_argument("-D", dest="daemon", action="store_true", help="run as a daemon")
    mode.add_argument("-W", dest="master_worker", action="store_true", help="master-worker mode (default)")
    mode.add_argument("-Ws", dest="systemd", action="store_true", help="master-worker mode with sd_notify")
    mode.add_argument("-p", dest="pidfile", metavar="PIDFILE", help="write the master's PID here")
    mode.add_argument("-q", dest="quiet", action="store_true", help="quiet: no notices or warnings")
    mode.add_argument("-dS", dest="no_splice", action="store_true", help="never splice (as global nosplice)")
    mode.add_argument("-dD", dest="diag", action="store_true", help="diagnostic mode: print .diag messages")
    mode.add_argument("-L", dest="local_peer", metavar="NAME", help="local peer name (HAPROXY_LOCALPEER)")
    handover = parser.add_argument_group("taking over from running processes")
    handover.add_argument("-sf", dest="soft_finish", nargs="+", type=int, default=[], metavar="PID",
                          help="soft-stop these PIDs once started")
    handover.add_argument("-st", dest="hard_finish", nargs="+", type=int, default=[], metavar="PID",
                          help="hard-stop these PIDs once started")
    management = parser.add_argument_group("management")
    management.add_argument("-S", dest="master_cli", metavar="ADDR[,OPTION,VALUE...]",
                            help="master CLI socket (show proc, reload, @N <command>)")
    info = parser.add_argument_group("information")
    info.add_argument("-v", dest="version", action="store_true", help="print the version")
    info.add_argument("-vv", dest="build_info", action="store_true", help="print version and features")
    return parser.parse_args(argv)


def version_text(full: bool) -> str:
    lines = [f"luaproxy version {VERSION} - HAProxy-compatible configuration and Lua API"]
    if full:
        lines += [f"Running on: Python {sys.version.split()[0]}",
                  f"Built with Lua version : {LUA_VERSION}",
                  f"Built with OpenSSL version : {ssl.OPENSSL_VERSION}",
                  "OpenSSL library supports SNI : yes",
                  "Feature list : " + " ".join(f"+{f}" for f in FEATURES)]
    return "\n".join(lines)


def export_environment(args: argparse.Namespace) -> None:
    """The variables haproxy defines for its configuration (HAPROXY_LOCALPEER, HAPROXY_CFGFILES...)."""
    os.environ["HAPROXY_LOCALPEER"] = args.local_peer or socket.gethostname()
    os.environ["HAPROXY_CFGFILES"] = ";".join(args.files)
    os.environ["HAPROXY_MWORKER"] = "1"
    if args.master_cli:
        os.environ["HAPROXY_MASTER_CLI"] = args.master_cli.split(",")[0]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.version or args.build_info:
        print(version_text(args.build_info))
        return 0
    if args.condition is not None:
        return check_condition(args.condition)
    if not args.files:
        print("luaproxy: no configuration file given; use -f FILE (see -h)", file=sys.stderr)
        return 1
    export_environment(args)
    splicing.off_by_command_line = args.no_splice
    logger = Logger(quiet=args.quiet, debug=args.debug)
    try:
        generation = reload.load(args.files, logger)
        master_cli = addresses.parse_flag(args.master_cli) if args.master_cli else None
    except ConfigErrors as exc:
        for warning in exc.warnings:
            logger.warning(f"config : {warning}")
        for error in exc.errors:
            logger.alert(f"config : {error}")
        logger.alert("config : Fatal errors found in configuration.")
        return 1
    except addresses.AddressError as exc:
        logger.alert(f"-S : {exc}")
        return 1
    settings, config, engine = generation.settings, generation.config, generation.engine
    report_messages(logger, settings.messages, args.diag)
    for warning in config.warnings:
        logger.warning(f"config : {warning}")
    if args.check:
        print("Configuration file is valid")
        return 0
    configure_logger(logger, settings)
    if not (args.master_worker or args.systemd):
        report_pid(os.getpid())
    try:
        lua_boot.run_inits(engine)
    except ConfigErrors as exc:
        logger.alert(f"Lua init: {exc}")
        return 1
    try:
        listening = bind_all(generation.frontends, settings.nbproc)
    except BindError as exc:
        logger.alert(str(exc))
        return 1
    if (args.daemon or settings.daemon) and not (args.debug or args.no_background or args.systemd):
        daemonize()
    else:
        logger.foreground = True
    pid_path = args.pidfile or settings.pidfile
    if pid_path:
        pidfile.write(pid_path, os.getpid())
    raise_fd_limit(settings.maxconn)
    setproctitle("luaproxy: master")
    finish = tuple((pid, signal.SIGUSR1) for pid in args.soft_finish) + tuple(
        (pid, signal.SIGTERM) for pid in args.hard_finish)
    arbiter = Arbiter(generation, listening, functools.partial(worker_specs, logger), logger,
                      systemd_mode=args.systemd, master_cli=master_cli, finish=finish)
    try:
        status = arbiter.run()
    finally:
        if pid_path:
            pidfile.remove(pid_path, os.getpid())
    if status == 130 and not (args.master_worker or args.systemd):
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # without -W, haproxy dies of the SIGINT itself
        os.kill(os.getpid(), signal.SIGINT)
    return status


def report_messages(logger: Logger, messages: list[tuple[str, str]], diag: bool) -> None:
    """The configuration's .notice/.warning/.diag lines, at their level (.diag only with -dD)."""
    for level, text in messages:
        if level == "warning":
            logger.warning(f"config : {text}")
        elif level == "notice" or diag:
            logger.notice(f"config : {text}")


def worker_specs(logger: Logger, generation: reload.Generation,
                 listening: list[Listening]) -> Callable[[int], WorkerSpec]:
    """How to build each worker of one configuration generation (the arbiter asks again after a reload)."""
    settings, proxies, engine = generation.settings, generation.proxies, generation.engine
    backends = {p.name: p for p in proxies if p.has_backend}

    def make_spec(index: int) -> WorkerSpec:
        worker_context = WorkerContext(logger, backends, settings.nbproc, index, settings.bufsize, proxies,
                                       engine.metrics, settings.maxconn, f"luaproxy {VERSION}",
                                       proc_vars=dict(generation.proc_vars), maxrewrite=settings.maxrewrite,
                                       tune=dict(settings.tune))
        sockets = [BoundSocket(item.for_worker(index), item.frontend, item.so_id) for item in listening]
        privileges = Privileges.of(settings)
        splicing.configure("nosplice" in settings.stored)
        engine.info_facts = functools.partial(worker_facts, worker_context)  # the worker forked next keeps its own
        return WorkerSpec(index, worker_context, sockets, settings.maxconn, TaskLauncher(engine).start_all,
                          drop_privileges=privileges.apply if privileges != Privileges() else None)

    return make_spec


def raise_fd_limit(maxconn: int) -> None:
    """Room for maxconn client and server sockets per worker, as haproxy sizes its own limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 2 * maxconn + 64)) if hard != resource.RLIM_INFINITY else 2 * maxconn + 64
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def daemonize() -> None:
    """Detach: fork twice, new session, standard streams to /dev/null."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
