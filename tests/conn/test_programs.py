"""``program`` sections: the master runs them, lists them in ``show proc``, renews them on reload, stops them."""

from __future__ import annotations

import os
import signal
import socket

from tests.helpers import alive, free_port, wait_until


def master_cli(port: int, command: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command.encode() + b"\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.decode()


def program_pids(text: str) -> dict[str, int]:
    rows = text.split("# programs\n", 1)[1].splitlines()
    return {row.split()[1]: int(row.split()[0]) for row in rows if row and not row.startswith("#")}


def test_programs_start_reload_and_stop(write, luaproxy, port) -> None:
    cli = free_port()
    write("p.cfg", f"""
        frontend fe
           bind 127.0.0.1:{port}
        program renewed
           command sleep 60
        program kept
           command sleep 60
           no option start-on-reload
        """)
    proc = luaproxy("-W", "-S", f"127.0.0.1:{cli}", "-f", "p.cfg", wait_port=port)
    assert wait_until(lambda: len(program_pids(master_cli(cli, "show proc"))) == 2)
    before = program_pids(master_cli(cli, "show proc"))
    proc.known_pids.update(before.values())
    proc.signal(signal.SIGUSR2)
    renewed = lambda: program_pids(master_cli(cli, "show proc")).get("renewed")  # noqa: E731
    assert wait_until(lambda: renewed() not in (None, before["renewed"]))
    after = program_pids(master_cli(cli, "show proc"))
    proc.known_pids.update(after.values())
    assert after["kept"] == before["kept"] and wait_until(lambda: not alive(before["renewed"]))
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait()
    assert wait_until(lambda: not any(alive(pid) for pid in after.values()))
