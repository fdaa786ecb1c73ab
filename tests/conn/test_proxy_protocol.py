"""PROXY protocol: the wire format alone, then real luaproxy processes sending and accepting it."""

from __future__ import annotations

import socket
import struct

import pytest

from luaproxy.worker.conn import proxy_protocol as pp
from tests.helpers import free_port, parse_responses, read_all, wait_until

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def test_v1_round_trip_and_refusals() -> None:
    line = pp.build_v1(("10.0.0.1", 42), ("10.0.0.2", 80))
    assert line == b"PROXY TCP4 10.0.0.1 10.0.0.2 42 80\r\n"
    header, used = pp.parse(line + b"GET")
    assert (header.src, header.dst, used) == (("10.0.0.1", 42), ("10.0.0.2", 80), len(line))
    assert pp.parse(b"PROXY TCP4 10.0") is None
    assert pp.build_v1(None, ("10.0.0.2", 80)) == b"PROXY UNKNOWN\r\n"
    for bad in (b"GET / HTTP/1.1\r\n", b"PROXY TCP4 10.0.0.1 ::1 1 2\r\n", b"PROXY TCP4 a b 1 2\r\n"):
        with pytest.raises(pp.ProxyHeaderError):
            pp.parse(bad)


def test_v2_tlvs_crc_and_validation() -> None:
    tlvs = [(pp.TLV_AUTHORITY, b"example.com"), (pp.TLV_UNIQUE_ID, b"id-1")]
    data = pp.build_v2(("::1", 1000), ("10.0.0.2", 80), tlvs, crc=True)
    header, used = pp.parse(data + b"rest")
    assert used == len(data)
    assert header.src == ("::1", 1000) and header.dst == ("::ffff:10.0.0.2", 80)
    assert header.tlv(pp.TLV_AUTHORITY) == b"example.com" and header.tlv(pp.TLV_UNIQUE_ID) == b"id-1"
    corrupted = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(pp.ProxyHeaderError, match="CRC32C"):
        pp.parse(corrupted)
    base = pp.SIGNATURE + b"\x21\x11"
    addresses = bytes(12)
    overrun = addresses + pp.tlv(pp.TLV_AUTHORITY, b"12345")[:-1]
    with pytest.raises(pp.ProxyHeaderError):
        pp.parse(base + struct.pack("!H", len(overrun)) + overrun)
    long_id = addresses + pp.tlv(pp.TLV_UNIQUE_ID, b"x" * 129)
    with pytest.raises(pp.ProxyHeaderError):
        pp.parse(base + struct.pack("!H", len(long_id)) + long_id)
    assert pp.crc32c(b"123456789") == 0xE3069283


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        return read_all(sock)


def test_accept_proxy_and_send_proxy_v2_end_to_end(write, luaproxy, port) -> None:
    receiver, v1 = free_port(), free_port()
    write("pp.cfg", f"""
        defaults
           mode http
           timeout connect 2s
           timeout client 3s
           timeout server 3s
           unique-id-format ID-%[req.hdr(in)]
        listen sender
           bind 127.0.0.1:{port}
           http-request set-src hdr(x-src)
           server s 127.0.0.1:{receiver} send-proxy-v2 proxy-v2-options unique-id,crc32c
        listen sender_v1
           bind 127.0.0.1:{v1}
           server s 127.0.0.1:{receiver} send-proxy
        listen receiver
           bind 127.0.0.1:{receiver} accept-proxy
           http-request return status 200 content-type text/plain lf-string "%[src] %[fc_pp_unique_id] %[fc_rcvd_proxy]"
        """)
    luaproxy("-f", "pp.cfg", wait_port=receiver)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        bodies = []
        for n in (1, 2):
            sock.sendall(f"GET / HTTP/1.1\r\nHost: x\r\nin: r{n}\r\nx-src: 10.9.9.{n}\r\n\r\n".encode())
            bodies.append(sock.recv(4096))
    assert b"10.9.9.1 ID-r1 1" in bodies[0] and b"10.9.9.2 ID-r2 1" in bodies[1]
    ((status, _, body),) = parse_responses(exchange(v1, REQUEST))
    assert status == 200 and body.startswith(b"127.0.0.1  1")
    # Sent straight to the receiver: a header with its own TLVs, then one that is refused.
    authority = pp.build_v2(("192.0.2.7", 5), ("192.0.2.8", 80), [(pp.TLV_UNIQUE_ID, b"abc")])
    ((status, _, body),) = parse_responses(exchange(receiver, authority + REQUEST))
    assert (status, body) == (200, b"192.0.2.7 abc 1")
    assert exchange(receiver, REQUEST) == b""  # no header: closed without a word, as haproxy does


def test_abstract_unix_sockets_carry_the_proxy_header(write, luaproxy, port) -> None:
    name = f"luaproxy-test-{port}"
    write("abns.cfg", f"""
        defaults
           mode http
           timeout connect 2s
           timeout client 3s
           timeout server 3s
        listen front
           bind 127.0.0.1:{port}
           server s abns@{name} send-proxy-v2
        frontend inner
           bind abns@{name} accept-proxy
           http-request return status 200 content-type text/plain lf-string "%[src] %[fc_rcvd_proxy]"
        """)
    luaproxy("-f", "abns.cfg", wait_port=port)
    ((status, _, body),) = parse_responses(exchange(port, REQUEST))
    assert (status, body) == (200, b"127.0.0.1 1")


def test_health_checks_send_the_header_too(write, luaproxy, port) -> None:
    receiver = free_port()
    write("chk.cfg", f"""
        defaults
           mode http
           timeout connect 2s
           timeout client 3s
           timeout server 3s
        listen stats
           bind 127.0.0.1:{port}
           stats uri /
        backend checked
           option httpchk GET /health
           server v1 127.0.0.1:{receiver} send-proxy check inter 200ms
           server v2 127.0.0.1:{receiver} send-proxy-v2 check inter 200ms
           server plain 127.0.0.1:{receiver} check inter 200ms
        frontend receiver
           bind 127.0.0.1:{receiver} accept-proxy
           http-request return status 200
        """)
    luaproxy("-f", "chk.cfg", wait_port=receiver)

    def failed_checks() -> dict[str, int]:
        text = exchange(port, b"GET /;csv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").decode()
        rows = [line.split(",") for line in text.splitlines() if line.startswith("checked,")]
        return {row[1]: int(row[21] or 0) for row in rows if row[1] != "BACKEND"}

    assert wait_until(lambda: failed_checks()["plain"] >= 1)  # checks ran: without the header they fail
    assert {name: n for name, n in failed_checks().items() if name != "plain"} == {"v1": 0, "v2": 0}
