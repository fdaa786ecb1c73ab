"""Resolvers sections against a real DNS server on 127.0.0.1 (tests.helpers.dns_server).

One luaproxy with two workers: a server named by DNS follows its name's
address in every worker and in ``show servers state``, goes into maintenance
when the name stops resolving past ``hold nx``, and comes back; ``do-resolve``
puts an address in a variable; ``show resolvers`` counts what the master sent.
Texts were compared with haproxy 2.6.12 running the same configuration.
"""

from __future__ import annotations

import socket
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from luaproxy.master.config.resolvers import resolv_conf_nameservers
from luaproxy.worker.resolvers import Nameserver, Resolution, ResolversSection
from tests.helpers import LUAPROXY, HttpBackend, Process, free_port, port_listening, read_all, wait_until
from tests.helpers.dns_server import DnsServer, Zone
from tests.supervisor.conftest import cli

CONFIG = """
    global
        nbproc 2
        stats socket {d}/admin.sock level admin
    resolvers dns
        nameserver ns1 127.0.0.1:{dns}
        accepted_payload_size 1232
        resolve_retries 2
        timeout resolve 200ms
        timeout retry 300ms
        hold valid 1s
        hold nx 500ms
    defaults
        mode http
        timeout client 5s
        timeout server 5s
        timeout connect 1s
    frontend web
        bind 127.0.0.1:{port}
        http-request do-resolve(txn.ip,dns,ipv4) hdr(x-name),lower if {{ path /resolve }}
        http-request return status 200 content-type text/plain lf-string "ip=%[var(txn.ip)]" if {{ path /resolve }}
        default_backend be
    backend be
        server s1 web.test:{backend} resolvers dns init-addr none resolve-prefer ipv4
        server s2 api.test:{backend} resolvers dns init-addr none resolve-prefer ipv4 backup
    backend other
        server x 127.0.0.1:{backend}
    listen tcp
        mode tcp
        bind 127.0.0.1:{tcp}
        tcp-request content do-resolve(txn.ip,dns,ipv4) str(tcp.test)
        tcp-request content set-dst var(txn.ip)
        server any 0.0.0.0:{backend}
    """


class Running:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dns = DnsServer({"web.test": ["127.0.0.1"], "api.test": ["127.0.0.9", "::9"],
                              "tcp.test": ["127.0.0.1"], "v6only.test": ["::6"]})
        self.backend = HttpBackend("A")
        self.port, self.tcp = free_port(), free_port()
        (directory / "r.cfg").write_text(textwrap.dedent(CONFIG).lstrip("\n").format(
            d=directory, dns=self.dns.port, port=self.port, backend=self.backend.port, tcp=self.tcp))
        self.proc = Process(["-f", "r.cfg"], directory)
        assert wait_until(lambda: port_listening(self.port), 15), self.proc.stderr()
        self.proc.wait_workers(2)

    def cmd(self, text: str) -> str:
        return cli(str(self.dir / "admin.sock"), text + "\n")

    def state_of_s1(self, server: str = "1 s1") -> list[str]:
        line = next(x for x in self.cmd("show servers state").splitlines() if x.startswith(f"3 be {server} "))
        return line.split()

    def get(self, path: str, name: str = "", port: int = 0) -> bytes:
        with socket.create_connection(("127.0.0.1", port or self.port), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nX-Name: {name}\r\nConnection: close\r\n\r\n".encode())
            return read_all(sock)

    def stop(self) -> None:
        self.proc.stop()
        self.backend.close()
        self.dns.close()


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = Running(tmp_path_factory.mktemp("resolvers"))
    yield running
    running.stop()


def test_server_follows_its_name_in_every_worker(rt: Running) -> None:
    assert wait_until(lambda: rt.state_of_s1()[4] == "127.0.0.1", 10), rt.cmd("show servers state")
    assert rt.state_of_s1()[17] == "web.test"
    assert all(rt.get("/").startswith(b"HTTP/1.1 200") for _ in range(8))  # both workers connect there
    rt.dns.set("web.test", ["127.0.0.3"])
    assert wait_until(lambda: rt.state_of_s1()[4] == "127.0.0.3", 10), rt.cmd("show servers state")
    assert all(rt.get("/").startswith(b"HTTP/1.1 503") for _ in range(8))  # nobody listens on 127.0.0.3
    assert "be/s1 changed its IP from 127.0.0.1 to 127.0.0.3 by dns/ns1." in rt.proc.stderr()

    rt.dns.remove("web.test")
    assert wait_until(lambda: rt.state_of_s1()[4:7] == ["-", "0", "32"], 10), rt.cmd("show servers state")
    assert "be,s1,MAINT (resolution)" in ["be,s1," + line.split(",")[17] for line in rt.cmd("show stat").splitlines()
                                          if line.startswith("be,s1,")]
    assert "Server be/s1 is going DOWN for maintenance (DNS NX status)." in rt.proc.stderr()

    rt.dns.set("web.test", ["127.0.0.1"])
    assert wait_until(lambda: rt.state_of_s1()[4:7] == ["127.0.0.1", "2", "0"], 10), rt.cmd("show servers state")
    assert wait_until(lambda: rt.get("/").startswith(b"HTTP/1.1 200"), 5)
    assert "Server be/s1 ('web.test') is UP/READY (resolves again)." in rt.proc.stderr()


def test_set_server_fqdn(rt: Running) -> None:
    s2 = "2 s2"
    assert wait_until(lambda: rt.state_of_s1(s2)[4] == "127.0.0.9", 10), rt.cmd("show servers state")
    assert rt.cmd("set server be/s2 fqdn web.test") == \
        "be/s2 changed its FQDN from api.test to web.test by 'stats socket command'\n\n"
    # web.test's one address is s1's: haproxy leaves s2 without one (no resolve-opts allow-dup-ip)
    assert wait_until(lambda: rt.state_of_s1(s2)[4:7] == ["-", "0", "32"], 10), rt.cmd("show servers state")
    assert rt.state_of_s1(s2)[17] == "web.test"
    assert "Server be/s2 is going DOWN for maintenance (No IP for server )." in rt.proc.stderr()
    assert rt.cmd("set server be/s2 fqdn api.test").startswith("be/s2 changed its FQDN from web.test to api.test")
    assert wait_until(lambda: rt.state_of_s1(s2)[4:7] == ["127.0.0.9", "2", "0"], 10), rt.cmd("show servers state")
    assert rt.cmd("set server be/s2 fqdn") == "set server <b>/<s> fqdn requires a FQDN.\n\n"
    assert rt.cmd("set server other/x fqdn a.test") == \
        "set server <b>/<s> fqdn failed because no resolution is configured.\n\n"
    assert rt.cmd("set server be/s2 fqdn bad..name") == "could not update be/s2 FQDN by 'stats socket command'\n\n"


def test_do_resolve_sets_the_variable(rt: Running) -> None:
    assert rt.get("/resolve", "API.test").endswith(b"ip=127.0.0.9")
    assert rt.get("/resolve", "nowhere.test").endswith(b"ip=")
    assert rt.get("/resolve", "10.1.2.3").endswith(b"ip=10.1.2.3")
    assert rt.get("/resolve", "v6only.test").endswith(b"ip=::6")  # ipv4 is preferred, ipv6 taken when alone
    assert rt.get("/", port=rt.tcp).startswith(b"HTTP/1.1 200")  # tcp-request content: resolved, then set-dst


def test_show_resolvers(rt: Running) -> None:
    def nx() -> int:  # the servers' names resolve by now: only do-resolve meets unknown names
        return int(next(x for x in rt.cmd("show resolvers dns").splitlines() if "nx:" in x).split()[1])

    before = nx()
    assert rt.get("/resolve", "counted.test").endswith(b"ip=")  # a worker's do-resolve counts too
    assert nx() > before
    text = rt.cmd("show resolvers dns")
    assert text.startswith("Resolvers section dns\n nameserver ns1:\n  sent:        ")
    counters = dict(line.split() for line in text.splitlines()[2:] if line.strip())
    assert list(counters)[-1] == "outdated:" and int(counters["valid:"]) > 0
    assert rt.cmd("show resolvers nope") == "Can't find that resolvers section\n\n"


def test_a_silent_nameserver_times_out_after_the_retries() -> None:
    section = ResolversSection("dns", [Nameserver("ns1", "127.0.0.1", 53)], retries=2, timeout_retry=1.0)
    resolution = Resolution(section, "web.test", ("ipv4",))
    assert len(resolution.start(0.0)) == 1
    assert resolution.expire(0.5) == [] and not resolution.done
    assert len(resolution.expire(1.0)) == 1
    resolution.expire(2.0)
    assert resolution.answer is not None and resolution.answer.status == "timeout"
    assert section.stats["ns1"]["sent"] == 2 and section.stats["ns1"]["timeout"] == 1


@pytest.mark.parametrize(("lines", "message"), [
    ("resolvers dns\n  nameserver\n", "'nameserver' expects a name and an address."),
    ("resolvers dns\n  hold often 1s\n", "'hold' in 'resolvers' section 'dns' expects a status and a time."),
    ("resolvers dns\n  nameserv a 127.0.0.1\n", "unknown keyword 'nameserv' in 'resolvers' section 'dns'."),
    ("backend be\n  server s web.test:80 resolvers dsn\n", "server 's': no resolvers section named 'dsn'."),
    ("frontend fe\n  mode http\n  http-request do-resolve(txn.ip,nope) src\n",
     "can't find resolvers section 'nope'."),
])
def test_check_names_each_mistake(tmp_path: Path, lines: str, message: str) -> None:
    (tmp_path / "bad.cfg").write_text("resolvers ok\n  nameserver a 127.0.0.1:53\n" + lines)
    done = subprocess.run([*LUAPROXY, "-c", "-f", str(tmp_path / "bad.cfg")], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode != 0
    assert message in done.stdout + done.stderr


def _reply(resolution: Resolution, zone: Zone) -> bytes:
    assert resolution.query is not None
    answer = zone.answer(resolution.query)
    assert answer is not None
    return answer.to_wire()


def test_the_other_family_is_asked_when_the_preferred_one_has_no_address() -> None:
    """Bytes only: the replies come from the test server's answer builder, no socket."""
    ns = Nameserver("ns1", "127.0.0.1", 53)
    section = ResolversSection("dns", [ns])
    server = Zone({"v4.test": ["192.0.2.7"]})
    resolution = Resolution(section, "v4.test", ("ipv6", "ipv4"))
    resolution.start(0.0)
    again = resolution.receive(ns, _reply(resolution, server), 0.1)  # AAAA: none, so A next
    assert len(again) == 1 and not resolution.done
    resolution.receive(ns, _reply(resolution, server), 0.2)
    assert resolution.answer is not None and resolution.answer.addresses == ("192.0.2.7",)
    missing = Resolution(section, "nowhere.test", ("ipv4",))
    missing.start(0.0)
    missing.receive(ns, _reply(missing, server), 0.1)
    assert missing.answer is not None and missing.answer.status == "nx"
    assert missing.receive(ns, b"late", 0.2) == [] and section.stats["ns1"]["outdated"] == 1
    assert (section.stats["ns1"]["valid"], section.stats["ns1"]["nx"]) == (1, 1)


def test_resolv_conf_nameservers_are_named_by_their_address(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search example\nnameserver 192.0.2.53\n  nameserver fe80::1%eth0\nnameserver 192.0.2.53\n"
                    "nameserver not-an-address\n")
    assert resolv_conf_nameservers(str(conf)) == [Nameserver("192.0.2.53", "192.0.2.53"),
                                                  Nameserver("fe80::1", "fe80::1")]
    assert resolv_conf_nameservers(str(tmp_path / "missing")) == []
