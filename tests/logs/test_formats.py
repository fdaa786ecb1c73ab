"""Log lines without processes: syslog layouts, ``log`` lines, log-format rendering, the access log's choices.

Expected texts come from haproxy 2.6 (``log stdout format raw`` and UDP
captures of the same configurations), with its dates and pids replaced.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from luaproxy.worker import access_log
from luaproxy.worker.http.message import Headers, RequestHead
from luaproxy.worker.log import Logger, LogServer, parse_log_server, printable
from luaproxy.worker.proxy import Proxy, Server
from luaproxy.worker.samples import SampleError, SampleRegistry, default_registry, parse_log_format
from tests.logs.syslog import SyslogListener, rfc3164

NOW = 1794000000.25  # 6 Nov 2026 21:20:00.250 UTC


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="module")
def registry() -> SampleRegistry:
    return default_registry()


def server(*words: str) -> LogServer:
    return parse_log_server(["127.0.0.1:5140", *words])


@pytest.mark.parametrize(("words", "expected"), [
    (("local0",), "<134>Nov  6 21:20:00 haproxy[{pid}]: hello\n"),
    (("format", "local", "local0"), "<134>Nov  6 21:20:00 haproxy[{pid}]: hello\n"),
    (("format", "rfc5424", "local0"), "<134>1 2026-11-06T21:20:00.250000+00:00 - haproxy {pid} - - hello\n"),
    (("format", "priority", "local0"), "<134>hello\n"),
    (("format", "short", "local0"), "<6>hello\n"),
    (("format", "timed", "local0"), "<6>2026-11-06T21:20:00.250000+00:00 hello\n"),
    (("format", "iso", "local0"), "2026-11-06T21:20:00.250000+00:00 hello\n"),
    (("format", "raw", "local0"), "hello\n"),
    (("local7", "info", "err"), "<187>Nov  6 21:20:00 haproxy[{pid}]: hello\n"),
])
def test_syslog_layouts(words: tuple[str, ...], expected: str) -> None:
    level = 1 if words[-1] == "err" else 6
    frame = server(*words).frame(level, "hello", "haproxy", "", NOW)
    assert frame == expected.format(pid=os.getpid()).encode()


def test_hostname_tag_and_length() -> None:
    expected = f"<134>Nov  6 21:20:00 lb1 edge[{os.getpid()}]: x\n".encode()
    assert server("local0").frame(6, "x", "edge", "lb1", NOW) == expected
    assert server("format", "rfc5424", "local0").frame(6, "x", "edge", "lb1", NOW).startswith(b"<134>1 2026-11-06T")
    assert b" lb1 edge " in server("format", "rfc5424", "local0").frame(6, "x", "edge", "lb1", NOW)
    frame = server("len", "80", "format", "raw", "local0").frame(6, "y" * 200, "haproxy", "", NOW)
    assert frame == b"y" * 80 + b"\n"


@pytest.mark.parametrize(("target", "family", "address"), [
    ("stdout", 0, 1),
    ("fd@2", 0, 2),
    ("/dev/log", socket.AF_UNIX, "/dev/log"),
    ("unix@/run/log.sock", socket.AF_UNIX, "/run/log.sock"),
    ("127.0.0.1", socket.AF_INET, ("127.0.0.1", 514)),
    ("udp@127.0.0.1:5140", socket.AF_INET, ("127.0.0.1", 5140)),
    ("[::1]:5140", socket.AF_INET6, ("::1", 5140, 0, 0)),
])
def test_targets(target: str, family: int, address: object) -> None:
    parsed = parse_log_server([target, "local0"])
    assert (parsed.family, parsed.address) == (family, address)


def test_log_line_options() -> None:
    parsed = parse_log_server(["stdout", "format", "short", "len", "200", "daemon", "notice", "crit"])
    assert (parsed.fmt, parsed.maxlen, parsed.facility, parsed.max_level, parsed.min_level) == ("short", 200, 3, 5, 2)
    with pytest.raises(ValueError, match="log : cannot handle unexpected argument 'x'"):
        parse_log_server(["stdout", "local0", "info", "err", "x"])
    with pytest.raises(ValueError, match="log : unknown optional minimum log level 'x'"):
        parse_log_server(["stdout", "local0", "info", "x"])


def test_lua_text_is_made_printable() -> None:
    assert printable("plain text") == "plain text"
    assert printable("a\tb\x01\u00e9\n") == "a.b...."


def test_levels_of_traffic_lines() -> None:
    assert access_log.traffic_level(None, False) == 6
    assert access_log.traffic_level(0, True) == 3
    assert access_log.traffic_level(5, False) == 4  # set_loglevel(core.notice) logs at warning, as 2.6 does
    assert access_log.traffic_level(-1, False) is None


def test_lua_logs_go_to_loggers_or_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    listener = SyslogListener()
    try:
        logger = Logger()
        logger.log(6, "while starting")
        logger.configure([parse_log_server([listener.address, "local0", "warning"])])
        logger.log(4, "to the logger")
        logger.log(6, "filtered out")
        logger.log(3, "own loggers", [parse_log_server([listener.address, "format", "short", "local0"])])
        logger.configure([])
        logger.log(4, "no logger: stderr")
        logger.log(7, "debug needs -d")
        records = listener.wait(2)
    finally:
        listener.close()
    assert rfc3164(records[0]).message == "to the logger"
    assert records[1] == b"<3>own loggers\n"
    err = capfd.readouterr().err.splitlines()
    day = f"{time.localtime().tm_yday - 1:03d}"
    assert len(err) == 2, err
    assert re.fullmatch(rf"\[info\] {day}/\d{{6}} \({os.getpid()}\) : while starting", err[0])
    assert re.fullmatch(rf"\[warning\] {day}/\d{{6}} \({os.getpid()}\) : no logger: stderr", err[1])


@dataclass
class Txn:
    """What a traffic log reads of a transaction (the Transaction's log fields)."""

    frontend: Any
    backend: Any = None
    server: Any = None
    request: RequestHead | None = None
    src: str = "127.0.0.1"
    src_port: int = 34040
    dst: str = "127.0.0.1"
    dst_port: int = 28080
    accept_date: float = NOW + 0.201
    t_request: float = 0.0
    t_connect: float = -1.0
    t_response: float = -1.0
    t_active: float = 0.0
    status: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    termination: str = "--"
    retries: int = 0
    loglevel: int | None = None
    service: Any = None
    client: Any = None
    proxies: dict[str, Any] = field(default_factory=dict)


def render(text: str, txn: Txn, registry: SampleRegistry, **overrides: int) -> str:
    return parse_log_format(text, registry, mandatory=True).render(txn, overrides or None)


def test_separators(registry: SampleRegistry) -> None:
    txn = Txn(Proxy("f1", 1, "http", True, False), Proxy("b1", 2, "http", False, True))
    assert render('  A  %hr %hs B  %[str()] C %[str(x)]  %{+Q}hr|%{+Q}[str()]|', txn, registry) == 'A B - C x |""|'
    assert render("[x  y][%b  %b][%b %hr %b][%b %hr  %hr %b][ %hr a]", txn, registry) == \
        "[x y][b1 b1][b1 b1][b1 b1][ a]"
    assert render(" a  b ", txn, registry) == "a b "
    assert render("[%b %{+Q}o %b]", txn, registry) == '[b1 "b1"]'
    txn.request = RequestHead("GET", "/deny", "HTTP/1.1", Headers())
    assert render("%HP %HQ %hr %{+Q}r", txn, registry) == '/deny  "GET /deny HTTP/1.1"'


def test_traffic_variables(registry: SampleRegistry) -> None:
    deny = Txn(Proxy("d", 1, "http", True, True), request=RequestHead("GET", "/deny", "HTTP/1.1", Headers()),
               status=403, bytes_out=192, termination="PR")
    text = "%TR|%Tw|%Tc|%Tr|%Ta|%Tt|%Th|%Ti|%Tq|%ST|%B|%tsc|%ts|%rc|%r|%HM|%HU|%HV|%HP|%HQ|%bi|%bp|%si|%sp|%s|%b"
    assert render(text, deny, registry) == \
        "0|-1|-1|-1|0|0|0|0|0|403|192|PR--|PR|0|GET /deny HTTP/1.1|GET|/deny|HTTP/1.1|/deny||-|-|-|-|<NOSRV>|d"
    s1 = Server("s1", "127.0.0.1", 28081)
    post = Txn(Proxy("p", 1, "http", True, True), server=s1, status=501, bytes_out=533,
               request=RequestHead("POST", "/a/b?q=1&r=2", "HTTP/1.1", Headers()), t_connect=0.0, t_response=0.001)
    text = ("%{+Q}HM|%{+Q}HU|%{+Q}HP|%{+Q}HQ|%{+Q}HV|%{+Q}ID|%{+X}sp|%{+X}si|%{+Q}CC|%{+Q}ts|%{+Q}ST|%{+X}ST|"
            "%{+X}B|%{+X}ms|%ms|%{+Q}trg|%Tw/%Tc/%Tr|%CC %CS")
    assert render(text, post, registry) == ('"POST"|"/a/b?q=1&r=2"|"/a/b"|"?q=1&r=2"|"HTTP/1.1"|""|6DB1|7F000001|""|'
                                            '--|501|501|533|1C3|451|06/Nov/2026:21:20:00 +0000|0/0/1|- -')
    odd = Txn(Proxy("p", 1, "http", True, True), request=RequestHead("GET", '/q?a="b{|}', "HTTP/1.1", Headers()))
    assert render("%{+Q}HQ|%HU|%{+Q}r", odd, registry) == '"?a=#22b{|}"|/q?a=#22b{|}|"GET /q?a=#22b{|} HTTP/1.1"'
    assert render("%{+Q}HQ|%HQ|%rt %{+X}rt %lc %ac", deny, registry, rt=3, lc=0, ac=2) == '""||3 0003 0 2'


def test_format_choice_and_http_only_variables(registry: SampleRegistry) -> None:
    logger = Logger()
    logs = [parse_log_server(["stdout", "local0"])]
    http = Proxy("h", 1, "http", True, True, options={"httplog": True})
    tcp = Proxy("t", 2, "tcp", True, True, options={"httplog": True})
    warnings: list[str] = []
    assert access_log.build(http, {}, logs, logger, registry) is None
    built = access_log.build(http, {"log": [("global",)]}, logs, logger, registry)
    assert built is not None and built.format is not None and built.format.text == access_log.HTTPLOG
    assert built.loggers == tuple(logs)
    built = access_log.build(tcp, {"log": [("global",)]}, logs, logger, registry, warnings=warnings)
    assert built is not None and built.format is not None and built.format.text == access_log.TCPLOG
    assert warnings == ["'option httplog' not usable with proxy 't' (needs 'mode http'). "
                        "Falling back to 'option tcplog'."]
    built = access_log.build(tcp, {"log": [("stderr", "local1")], "log-format": [("%ci %b",)]}, [], logger, registry)
    assert built is not None and built.format is not None and built.format.text == "%ci %b"
    assert built.loggers[0].address == 2
    with pytest.raises(SampleError, match=r"format variable 'HU' is reserved for HTTP mode\."):
        access_log.build(tcp, {"log": [("global",)], "log-format": [("%HU",)]}, logs, logger, registry)
    plain = access_log.build(Proxy("c", 3, "tcp", True, True), {"log": [("global",)]}, logs, logger, registry)
    assert plain is not None and plain.format is None


def test_access_log_options_and_failures(registry: SampleRegistry, capfd: pytest.CaptureFixture[str]) -> None:
    listener = SyslogListener()
    options = {"tcplog": True, "dontlognull": True, "log-separate-errors": True}
    proxy = Proxy("t", 1, "tcp", True, True, options=options)
    try:
        logs = [parse_log_server([listener.address, "local0"])]
        log = access_log.build(proxy, {"log": [("global",)], "log-format": [("%ts %B",)]}, logs, Logger(), registry)
        assert log is not None
        log(Txn(proxy))
        log(Txn(proxy, bytes_in=3, bytes_out=5))
        log(Txn(proxy, bytes_in=3, termination="SC"))
        log(Txn(proxy, bytes_in=3, loglevel=-1))
        log(Txn(proxy, bytes_in=3, termination=None))  # type: ignore[arg-type]
        log(Txn(proxy, bytes_in=3, termination=None))  # type: ignore[arg-type]
        records = [rfc3164(d) for d in listener.wait(2)]
        time.sleep(0.1)
        assert len(listener.datagrams) == 2
    finally:
        listener.close()
    assert [(r.level, r.message) for r in records] == [(6, "-- 5"), (3, "SC 0")]
    assert capfd.readouterr().err.count("proxy 't': cannot build its log line") == 1


def test_log_sampling() -> None:
    """``sample 1,3:5``: of each run of five messages, the first and the third."""
    server = parse_log_server(["127.0.0.1:5140", "sample", "1,3:5", "local0"])
    assert [server.sampled() for _ in range(10)] == [True, False, True, False, False] * 2
    assert parse_log_server(["127.0.0.1:5140", "local0"]).sampled()
    with pytest.raises(ValueError, match="sample"):
        parse_log_server(["127.0.0.1:5140", "sample", "1,7:5", "local0"])
