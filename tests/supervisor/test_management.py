"""The management socket: every command's exact text, levels, socket modes, prompt mode, payloads.

Expected texts were captured from Debian's haproxy 2.6 with the same files
(``m.map``, ``a.acl``, ``ip.map``) and the same commands.  One luaproxy with
two workers serves the whole module, so each change also goes through the
control socket; tests that change a list restore it.
"""

from __future__ import annotations

import os
import stat
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Process, free_port, port_listening, wait_until
from tests.supervisor.conftest import Prompt, cli, until_all

CONFIG = """
    global
        nbproc 2
        stats socket {d}/admin.sock level admin mode 600
        stats socket {d}/user.sock level user
        stats socket {d}/def.sock
        stats socket ipv4@127.0.0.1:{cli_port} level admin
        stats timeout 5s
    defaults
        mode http
        timeout client 5s
        timeout server 5s
        timeout connect 5s
    frontend fe
        bind 127.0.0.1:{port}
        acl blocked path -f a.acl
        acl inl src 10.0.0.1 10.0.0.2
        http-request deny if blocked inl
        http-request set-var(txn.net) src,map_ip(ip.map,none)
        http-request return status 200 content-type text/plain lf-string "%[proc] %[path,map(m.map,none)]"
    backend be
        server s1 127.0.0.1:18081
        server s2 127.0.0.1:18082 disabled
        http-request set-var(proc.declared,ifnotexists) str(x)
    global
        set-var proc.int5 int(5)
        set-var proc.b bin(41004200)
    """


class Running:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.cli_port = free_port()
        (directory / "m.map").write_text("k1 v1\nk2 v2\n# c\nk3 v3\n")
        (directory / "a.acl").write_text("a\nb\n")
        (directory / "ip.map").write_text("10.0.0.0/8 ten\n")
        (directory / "p.cfg").write_text(textwrap.dedent(CONFIG).lstrip("\n").format(d=directory, port=self.port,
                                                                         cli_port=self.cli_port))
        self.proc = Process(["-f", "p.cfg", "-S", f"{directory}/master.sock"], directory)
        assert wait_until(lambda: port_listening(self.port) and os.path.exists(directory / "master.sock"), 15), \
            self.proc.stderr()
        self.proc.wait_workers(2)
        assert wait_until(lambda: cli(self.admin, "show stat\n").count("\n") >= 5, 10)

    @property
    def admin(self) -> str:
        return str(self.dir / "admin.sock")

    def sock(self, name: str) -> str:
        return str(self.dir / f"{name}.sock")


@pytest.fixture(scope="module")
def lp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = Running(tmp_path_factory.mktemp("mgmt"))
    yield running
    running.proc.stop()


def test_show_map_and_acl_lists(lp: Running) -> None:
    assert cli(lp.admin, "show map\n") == (
        "# id (file) description\n"
        "3 (ip.map) pattern loaded from file 'ip.map' used by map at file 'p.cfg' line 18. "
        "curr_ver=0 next_ver=0 entry_cnt=1\n"
        "4 (m.map) pattern loaded from file 'm.map' used by map at file 'p.cfg' line 19. "
        "curr_ver=0 next_ver=0 entry_cnt=3\n\n")
    assert cli(lp.admin, "show acl\n") == (
        "# id (file) description\n"
        "0 (a.acl) pattern loaded from file 'a.acl' used by acl at file 'p.cfg' line 15. "
        "curr_ver=0 next_ver=0 entry_cnt=2\n"
        "1 () acl 'path' file 'p.cfg' line 15. curr_ver=0 next_ver=0 entry_cnt=0\n"
        "2 () acl 'src' file 'p.cfg' line 16. curr_ver=0 next_ver=0 entry_cnt=2\n\n")


def test_show_map_entries_and_get(lp: Running) -> None:
    shown = cli(lp.admin, "show map m.map\n")
    assert [line.split(" ", 1)[1] for line in shown.splitlines() if line] == ["k1 v1", "k2 v2", "k3 v3"]
    assert all(line.startswith("0x") for line in shown.splitlines() if line) and shown.endswith("\n\n")
    assert cli(lp.admin, "show map #4\n") == shown
    assert cli(lp.admin, "show acl a.acl\n").split("\n")[0].endswith(" a")
    assert cli(lp.admin, "show acl #1\n") == "\n"
    assert cli(lp.admin, "show acl #0\n") == cli(lp.admin, "show acl a.acl\n")
    assert cli(lp.admin, "get map m.map k1\n") == (
        'type=str, case=sensitive, found=yes, idx=tree, key="k1", value="v1", type="str"\n\n')
    assert cli(lp.admin, "get map m.map zz\n") == "type=str, case=sensitive, found=no\n\n"
    assert cli(lp.admin, "get acl a.acl a\n") == 'type=str, case=sensitive, match=yes, idx=tree, pattern="a"\n\n'
    assert cli(lp.admin, "get acl #2 10.0.0.1\n") == (
        'type=ip, case=sensitive, match=yes, idx=tree, pattern="10.0.0.1"\n\n')


HAPROXY_ERRORS = [
    ("show map nope", "Unknown map identifier. Please use #<id> or <file>."),
    ("show map #0", "Unknown map identifier. Please use #<id> or <file>."),
    ("show map @1", "Unknown map identifier. Please use #<id> or <file>."),
    ("show acl m.map", "Unknown ACL identifier. Please use #<id> or <file>."),
    ("get map", "Missing map identifier and/or key."),
    ("get map m.map", "Missing map identifier and/or key."),
    ("get acl a.acl", "Missing ACL identifier and/or key."),
    ("get acl nope x", "Unknown ACL identifier. Please use #<id> or <file>."),
    ("add map m.map k4", "'add map' expects three parameters (map identifier, key and value) or one parameter "
                         "(map identifier) and a payload"),
    ("add map", "'add map' expects three parameters (map identifier, key and value) or one parameter "
                "(map identifier) and a payload"),
    ("add map nope k v", "Unknown map identifier. Please use #<id> or <file>."),
    ("add map @5 m.map n1 w1", "Version number in the future, please use 'prepare map' before."),
    ("set map m.map zz new", "entry not found."),
    ("set map m.map k4", "'set map' expects three parameters: map identifier, key and value."),
    ("set map nope k v", "Unknown map identifier. Please use #<id> or <file>."),
    ("del map m.map zz", "Key not found."),
    ("del map m.map #zz", "Key not found."),
    ("del map m.map", "This command expects two parameters: map identifier and key."),
    ("del map nope k", "Unknown map identifier. Please use #<id> or <file>."),
    ("del acl a.acl zz", "Key not found."),
    ("del acl a.acl", "This command expects two parameters: ACL identifier and key."),
    ("del acl nope x", "Unknown map identifier. Please use #<id> or <file>."),
    ("clear map", "Missing map identifier."),
    ("clear map nope", "Unknown map identifier. Please use #<id> or <file>."),
    ("clear acl", "Missing ACL identifier."),
    ("clear acl nope", "Unknown ACL identifier. Please use #<id> or <file>."),
    ("prepare map", "Unknown map identifier. Please use #<id> or <file>."),
    ("prepare acl nope", "Unknown ACL identifier. Please use #<id> or <file>."),
    ("commit map m.map", "Missing version number."),
    ("commit map", "Missing version number."),
    ("commit map @1", "Missing map identifier."),
    ("commit map @9 m.map", "Version number out of range."),
    ("commit acl a.acl", "Missing version number."),
    ("commit acl @1", "Missing ACL identifier."),
    ("add acl a.acl", "'add acl' expects two parameters: ACL identifier and pattern."),
    ("add acl nope x", "Unknown ACL identifier. Please use #<id> or <file>."),
    ("add acl #2 notanip", "'notanip' is not a valid IPv4 or IPv6 address."),
    ("add acl @9 a.acl q", "Version number in the future, please use 'prepare acl' before."),
    ("add map ip.map 1.2.3.x v", "'1.2.3.x' is not a valid IPv4 or IPv6 address."),
    ("add map m.map <<\nonlykey\n", "Missing value for key 'onlykey'."),
    ("show servers state nope", "Can't find backend."),
    ("get var", "Missing process-wide variable identifier."),
    ("get var proc.nope", "Variable not found."),
    ("get var proc.declared", "Variable not found."),
    ("get var txn.net", "Variable not found."),
]


@pytest.mark.parametrize(("command", "expected"), HAPROXY_ERRORS)
def test_errors_read_as_haproxy_2_6(lp: Running, command: str, expected: str) -> None:
    before = cli(lp.admin, "show map m.map;show map ip.map;show acl a.acl;show acl #2\n")
    assert cli(lp.admin, command + "\n") == expected + "\n\n"
    assert cli(lp.admin, "show map m.map;show map ip.map;show acl a.acl;show acl #2\n") == before


def test_add_set_del_reach_every_worker(lp: Running) -> None:
    assert cli(lp.admin, "add map m.map /new fresh\n") == "\n"
    assert set(until_all(lp.port, "/new", 2, "fresh").values()) == {"fresh"}
    assert cli(lp.admin, "set map m.map /new changed\n") == "\n"
    assert set(until_all(lp.port, "/new", 2, "changed").values()) == {"changed"}
    ref = next(line.split()[0] for line in cli(lp.admin, "show map m.map\n").splitlines() if "/new" in line)
    assert cli(lp.admin, f"set map m.map #{ref} by-ref\n") == "\n"
    assert cli(lp.admin, "get map m.map /new\n").count('value="by-ref"') == 1
    assert set(until_all(lp.port, "/new", 2, "by-ref").values()) == {"by-ref"}
    assert cli(lp.admin, f"del map m.map #{ref}\n") == "\n"
    assert set(until_all(lp.port, "/new", 2, "none").values()) == {"none"}
    assert cli(lp.admin, "del map m.map #" + ref + "\n") == "Key not found.\n\n"


def test_value_runs_to_the_first_blank_and_backslash_escapes(lp: Running) -> None:
    assert cli(lp.admin, "add map m.map /sp a\\ b extra words\n") == "\n"
    assert cli(lp.admin, "get map m.map /sp\n").endswith('value="a b", type="str"\n\n')
    assert cli(lp.admin, "del map m.map /sp\n") == "\n"


def test_payload_adds_every_line_or_none(lp: Running) -> None:
    assert cli(lp.admin, "add map m.map <<\n/p1 q1\n/p2 q2 q3\n\n") == "\n"
    assert set(until_all(lp.port, "/p2", 2, "q2 q3").values()) == {"q2 q3"}
    assert cli(lp.admin, "del map m.map /p1;del map m.map /p2\n") == "\n\n"
    before = cli(lp.admin, "show map ip.map\n")
    assert cli(lp.admin, "add map ip.map <<\n10.1.0.1 a\nbad b\n\n") == (
        "'bad' is not a valid IPv4 or IPv6 address.\n\n")
    assert cli(lp.admin, "show map ip.map\n") == before


def test_prepare_add_commit_versions(lp: Running) -> None:
    assert cli(lp.admin, "prepare map m.map\n") == "New version created: 1\n\n"
    assert cli(lp.admin, "add map @1 m.map /k1 w1;add map @1 m.map k2 w2\n") == "\n\n"
    shown = cli(lp.admin, "show map @1 m.map\n")
    assert [line.split(" ", 1)[1] for line in shown.splitlines() if line] == ["/k1 w1", "k2 w2"]
    assert set(by_value(lp, "/k1")) == {"none"}
    assert cli(lp.admin, "show map\n").count("curr_ver=0 next_ver=1 entry_cnt=5") == 1
    assert cli(lp.admin, "commit map @1 m.map\n") == "\n"
    assert cli(lp.admin, "commit map @1 m.map\n") == "Version number out of range.\n\n"
    assert set(until_all(lp.port, "/k1", 2, "w1").values()) == {"w1"}
    assert cli(lp.admin, "show map\n").count("curr_ver=1 next_ver=1 entry_cnt=2") == 1
    assert cli(lp.admin, "clear map m.map;add map m.map <<\nk1 v1\nk2 v2\nk3 v3\n\n") == "\n\n"


def by_value(lp: Running, path: str) -> list[str]:
    return list(until_all(lp.port, path, 2, "none", timeout=2).values())


def test_acl_add_prepare_commit_clear(lp: Running) -> None:
    assert cli(lp.admin, "add acl a.acl c\n") == "\n"
    assert cli(lp.admin, "get acl a.acl c\n") == 'type=str, case=sensitive, match=yes, idx=tree, pattern="c"\n\n'
    assert cli(lp.admin, "del acl a.acl c\n") == "\n"
    assert cli(lp.admin, "prepare acl a.acl\n") == "New version created: 1\n\n"
    assert cli(lp.admin, "add acl @1 a.acl q;commit acl @1 a.acl;show acl a.acl\n").endswith(" q\n\n")
    assert cli(lp.admin, "clear acl a.acl;show acl a.acl\n") == "\n\n"
    assert cli(lp.admin, "add acl a.acl a;add acl a.acl b\n") == "\n\n"


def test_levels(lp: Running) -> None:
    user, default = lp.sock("user"), lp.sock("def")
    assert cli(user, "show cli level\n") == "user\n\n"
    assert cli(default, "show cli level\n") == "operator\n\n"
    assert cli(lp.admin, "show cli level\n") == "admin\n\n"
    for command in ("set map m.map k1 x", "add map m.map k9 x", "del map m.map k1", "clear map m.map",
                    "prepare map m.map", "commit map @1 m.map", "add acl a.acl x", "operator"):
        assert cli(user, command + "\n") == "Permission denied\n\n", command
    assert cli(user, "get map m.map k1\n").startswith("type=str")
    assert cli(lp.admin, "show cli level;user;show cli level\n") == "admin\n\n\nuser\n\n"
    assert cli(default, "set map m.map k1 v1\n") == "\n"
    assert "set map" not in cli(user, "help\n") and "set map" in cli(default, "help\n")


def test_socket_modes_and_tcp(lp: Running) -> None:
    assert stat.S_IMODE(os.stat(lp.admin).st_mode) == 0o600
    assert stat.S_ISSOCK(os.stat(lp.sock("user")).st_mode)
    assert cli(lp.cli_port, "show cli level\n") == "admin\n\n"


def test_help_and_unknown_commands(lp: Running) -> None:
    text = cli(lp.admin, "help map\n")
    assert text == (
        "The following commands are valid at this level:\n"
        "  add map [@<ver>] <map> <key> <val>      : add a map entry (payload supported instead of key/val)\n"
        "  clear map [@<ver>] <map>                : clear the contents of this map\n"
        "  commit map @<ver> <map>                 : commit the map at this version\n"
        "  del map <map> [<key>|#<ref>]            : delete map entries matching <key>\n"
        "  get map <acl> <value>                   : report the keys and values matching a sample for a map\n"
        "  prepare map <acl>                       : prepare a new version for atomic map replacement\n"
        "  set map <map> [<key>|#<ref>] <value>    : modify a map entry\n"
        "  show map [@ver] [map]                   : report available maps or dump a map's contents\n"
        "  help [<command>]                        : list matching or all commands\n"
        "  prompt                                  : toggle interactive mode with prompt\n"
        "  quit                                    : disconnect\n\n")
    assert cli(lp.admin, "set acl a.acl a b\n").startswith(
        "Unknown command, but maybe one of the following ones is a better match:\n"
        "  set map <map> [<key>|#<ref>] <value>    : modify a map entry\n")
    assert cli(lp.admin, "frobnicate\n").startswith("Unknown command. Please enter one of the following")


def test_prompt_mode(lp: Running) -> None:
    session = Prompt(lp.admin)
    try:
        session.send("prompt\n")
        assert session.until_prompt() == "\n"
        session.send("show cli level\n")
        assert session.until_prompt() == "admin\n\n"
        session.send("get map m.map k1;show cli level\n")
        assert session.until_prompt(2) == (
            'type=str, case=sensitive, found=yes, idx=tree, key="k1", value="v1", type="str"\n\n> admin\n\n')
        session.send("quit\n")
        assert session.sock.recv(100) == b""
    finally:
        session.close()


def test_one_shot_runs_every_line_sent(lp: Running) -> None:
    assert cli(lp.admin, "show cli level\nshow cli level\n") == "admin\n\nadmin\n\n"


def test_show_stat_info_servers_state(lp: Running) -> None:
    text = cli(lp.admin, "show stat\n")
    lines = text.split("\n")
    assert lines[0].startswith("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,")
    assert lines[0].endswith(",h1_spliced_bytes_in,h1_spliced_bytes_out,") and text.endswith("\n\n")
    rows = {tuple(line.split(",")[:2]): line.split(",") for line in lines[1:] if line}
    assert set(rows) == {("fe", "FRONTEND"), ("be", "s1"), ("be", "s2"), ("be", "BACKEND")}
    assert all(len(row) == 129 for row in rows.values())
    header = lines[0][2:].split(",")
    s2 = dict(zip(header, rows[("be", "s2")], strict=True))
    assert (s2["status"], s2["addr"], s2["type"], s2["sid"]) == ("MAINT", "127.0.0.1:18082", "2", "2")
    frontend = dict(zip(header, rows[("fe", "FRONTEND")], strict=True))
    assert frontend["status"] == "OPEN" and int(frontend["stot"]) > 0 and frontend["mode"] == "http"
    info = dict(line.split(": ", 1) for line in cli(lp.admin, "show info\n").splitlines() if line)
    assert info["Nbproc"] == "2" and info["Pid"] == str(lp.proc.pid) and int(info["CumConns"]) > 0
    assert list(info)[:9] == ["Name", "Version", "Release_date", "Nbthread", "Nbproc", "Process_num", "Pid",
                              "Uptime", "Uptime_sec"]
    state = cli(lp.admin, "show servers state be\n").split("\n")
    assert state[0] == "1" and state[1].startswith("# be_id be_name srv_id srv_name srv_addr srv_op_state")
    assert state[2].split()[:7] == ["3", "be", "1", "s1", "127.0.0.1", "2", "0"]
    assert state[3].split()[:7] == ["3", "be", "2", "s2", "127.0.0.1", "0", "5"]  # haproxy 2.6: STOPPED in MAINT


def test_master_cli(lp: Running) -> None:
    master = lp.sock("master")
    workers = sorted(lp.proc.workers())
    text = cli(master, "show proc\n")
    lines = text.split("\n")
    assert lines[0] == "#<PID>          <type>          <reloads>       <uptime>        <version>      "
    assert lines[1].startswith(f"{lp.proc.pid:<15} master          0 [failed: 0]   0d00h00m")
    assert lines[2] == "# workers"
    assert sorted(int(line.split()[0]) for line in lines[3:5]) == workers
    assert lines[5:] == ["# programs", "", ""]
    assert cli(master, "@1 show map\n") == cli(lp.admin, "show map\n")
    assert cli(master, "@!1 show map\n") == "Can't find the target PID matching the prefix '@!1'\n\n"
    assert "reload                                  : reload haproxy" in cli(master, "help\n")


def test_get_var_shows_a_proc_variable_as_haproxy_2_6(lp: Running) -> None:
    assert cli(lp.admin, "get var proc.int5\n") == "proc.int5: type=sint value=<5>\n"
    assert cli(lp.admin, "get var proc.b\n") == "proc.b: type=bin value=<A>\n"  # up to the first NUL byte
    assert cli(lp.sock("user"), "get var proc.int5\n") == "Permission denied\n\n"
