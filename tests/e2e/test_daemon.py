"""-D and -p: detach, write the master's PID, serve, stop on SIGTERM."""

from __future__ import annotations

import os
import signal

from tests.helpers import alive, children, port_listening, talk, wait_until


def test_daemon_with_pidfile(write, luaproxy, port, tmp_path):
    write("hello.lua", 'function hello(txn) txn.res:send("hi\\n") txn:done() end\n')
    write("d.cfg", f"""
        global
           lua-load hello.lua
        listen p
           bind 127.0.0.1:{port}
           tcp-request content lua hello
        """)
    launcher = luaproxy("-D", "-p", "lp.pid", "-f", "d.cfg")
    assert launcher.wait(15) == 0
    pidfile = tmp_path / "lp.pid"
    assert wait_until(pidfile.exists, 10)
    master = int(pidfile.read_text())
    launcher.known_pids.add(master)
    try:
        assert wait_until(lambda: port_listening(port), 10)
        workers = children(master)
        launcher.known_pids.update(workers)
        assert talk(port) == b"hi\n"
        os.kill(master, signal.SIGTERM)
        assert wait_until(lambda: not alive(master) and not any(alive(w) for w in workers), 10)
        assert wait_until(lambda: not pidfile.exists(), 5)
    finally:
        for pid in [master, *children(master)]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
