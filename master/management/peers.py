"""``show peers [dict|-] [<section>]``: the peers agents' sessions in haproxy 2.6's layout.

The facts come from each agent's status board (``master.peers.status``).
HAProxy prints its own pointers before each object; luaproxy prints stable
stand-ins (a hash of what the object is), so the layout and the field names
match and scripts that read the ``key=value`` fields work unchanged.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from ..peers.codec import DICT_ENTRIES

DICT_HINT = 'Dictionary cache not dumped (use "show peers dict")'


def show_peers(snapshots: list[dict[str, Any]], args: list[str]) -> str:
    """The dump of every section's snapshot (or of the one *args* names)."""
    with_dict = bool(args) and args[0] == "dict"
    if args and args[0] in ("dict", "-"):
        args = args[1:]
    if args:
        snapshots = [s for s in snapshots if s["section"] == args[0]]
        if not snapshots:
            return "No such peers\n"
    out = [""]
    for snapshot in snapshots:
        out += _section(snapshot, with_dict)
    return "\n".join(out) + "\n"


def _section(snapshot: dict[str, Any], with_dict: bool) -> list[str]:
    name = snapshot["section"]
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S", time.localtime(snapshot["started"]))
    lines = [f"{_ptr('section', name)}: [{stamp}] id={name} disabled=0 flags=0x0 resync_timeout=<PAST> "
             f"task_calls=0"]
    for peer in reversed(snapshot["peers"]):  # haproxy lists its peers last declared first
        lines += _peer(name, peer, snapshot["tables"], with_dict)
    lines.append("")
    return lines


def _peer(section: str, peer: dict[str, Any], tables: dict[str, Any], with_dict: bool) -> list[str]:
    local = peer.get("local", False)
    session = None if local else peer.get("session")
    status = "NONE" if local else peer["status"]
    role = "local,inactive" if local else "remote,active"
    lines = [
        f"  {_ptr('peer', section, peer['name'])}: id={peer['name']}({role}) addr={peer['addr']} "
        f"last_status={status} last_hdshk={_ago(None if local else peer['handshake_ago'])}",
        f"        reconnect={_ago(None if local else peer['reconnect_in'])} "
        f"heartbeat={_ago(None if session is None else session['heartbeat_in'])} confirm=0 "
        + " ".join(f"{k}={0 if local else peer[k]}" for k in ("tx_hbt", "rx_hbt", "no_hbt", "new_conn",
                                                              "proto_err", "coll")),
    ]
    if session is None:
        lines.append("        flags=0x0")
    else:
        lines.append(f"        flags=0x20000200 appctx:{_ptr('appctx', section, peer['name'])} st0=7 st1=0 "
                     f"task_calls=0 state=EST")
        if session["addresses"]:
            src, addr = session["addresses"]
            lines.append(f"        xprt=RAW src={src} addr={addr}")
        remote = [n for n, rid in session["remote"].items() if rid]
        if remote:
            lines.append(f"        remote_table:{_table_line(section, peer, remote[-1], tables, session)}")
        last = session["last_local_table"]
        if last:
            lines.append(f"        last_local_table:{_table_line(section, peer, last, tables, session)}")
    lines.append("        shared tables:")
    for name, table in tables.items():
        rid = session["remote"].get(name, 0) if session else 0
        mask = table["mask"] if rid else 0
        acked = session["acked"].get(name, 0) if session else 0
        pushed = session["pushed"].get(name, 0) if session else 0
        got = session["got"].get(name, 0) if session else 0
        lines += [
            f"          {_ptr('shared', section, peer['name'], name)} local_id={table['id']} remote_id={rid} "
            f"flags=0x0 remote_data={mask:#x}",
            f"              last_acked={acked} last_pushed={pushed} last_get={got} teaching_origin=0 update=0",
            f"              table:{_ptr('table', name)} id={table['label']} update={table['update']} "
            f"localupdate={table['update']} commitupdate={table['update']} refcnt=1",
        ]
    lines += _dictionaries(session) if with_dict else [f"        {DICT_HINT}"]
    return lines


def _dictionaries(session: dict[str, Any] | None) -> list[str]:
    """``show peers dict``: the session's server_key caches, four ``  N -> text`` per line as haproxy."""
    tx = session.get("dict_tx", []) if session else []
    rx = {int(i): text for i, text in (session.get("dict_rx", {}) if session else {}).items()}
    lines = ["        TX dictionary cache:"]
    lines += _four([f"  {i:3} -> {text}" for i, text in enumerate(tx)])
    lines.append("        RX dictionary cache:")
    lines += _four([f"  {i:3} -> {rx.get(i, '-')}" for i in range(DICT_ENTRIES)])
    return lines


def _four(cells: list[str]) -> list[str]:
    return ["        " + "".join(cells[i : i + 4]) for i in range(0, len(cells), 4)]


def _table_line(section: str, peer: dict[str, Any], name: str, tables: dict[str, Any],
                session: dict[str, Any]) -> str:
    return (f"{_ptr('shared', section, peer['name'], name)} id={tables[name]['label']} local_id={tables[name]['id']} "
            f"remote_id={session['remote'].get(name, 0)}")


def _ago(seconds: float | None) -> str:
    """A duration as haproxy's human_time prints it (``<NEVER>`` when there is none)."""
    if seconds is None:
        return "<NEVER>"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m")) if v)
    return text + (f"{secs}s" if secs or not text else "")


def _ptr(*parts: str) -> str:
    """A stable stand-in for the pointer haproxy prints before an object."""
    return f"0x55{zlib.crc32('/'.join(parts).encode()):08x}"
