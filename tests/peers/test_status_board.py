"""The peers agent's status board: a snapshot written in one process is read whole in another."""

from __future__ import annotations

import os

from luaproxy.master.management.peers import show_peers
from luaproxy.master.peers.status import StatusBoard


def test_a_forked_writer_and_the_reader_see_the_same_snapshot() -> None:
    board = StatusBoard(size=4096)
    assert board.read() is None
    pid = os.fork()
    if pid == 0:
        board.publish({"n": 1})
        board.publish({"n": 2, "text": "x" * 100})
        os._exit(0)
    os.waitpid(pid, 0)
    assert board.read() == {"n": 2, "text": "x" * 100}
    assert not board.publish({"text": "y" * 5000}), "too big: refused, the last one stays"
    assert board.read() == {"n": 2, "text": "x" * 100}


def test_show_peers_lists_peers_last_declared_first() -> None:
    snapshot = {"section": "mesh", "started": 0.0, "local": "a", "pid": 1,
                "tables": {"st": {"update": 3, "id": 1, "label": "st", "mask": 4}},
                "peers": [{"name": "a", "addr": "127.0.0.1:1", "local": True},
                          {"name": "b", "addr": "127.0.0.1:2", "status": "CONN", "handshake_ago": 61.0,
                           "reconnect_in": 4.2, "new_conn": 0, "proto_err": 0, "coll": 0, "tx_hbt": 0,
                           "rx_hbt": 0, "no_hbt": 0, "updates_sent": 0, "updates_received": 0, "session": None}]}
    text = show_peers([snapshot], [])
    lines = text.splitlines()
    assert lines[0] == "" and " id=mesh " in lines[1]
    assert "id=b(remote,active) addr=127.0.0.1:2 last_status=CONN last_hdshk=1m1s" in lines[2]
    assert lines[3].startswith("        reconnect=4s heartbeat=<NEVER> confirm=0")
    assert "id=a(local,inactive)" in text.split("id=b(")[1]
    assert show_peers([snapshot], ["other"]) == "No such peers\n"
