"""Request-smuggling corpus: every framing trick is refused, or read exactly one way.

Each case is fed whole, per line, per byte and in random chunks to a server
connection that answers each request and moves on, so a case passes only if
the same requests (method, target, body) come out however the bytes arrive.
Comments give what HAProxy 2.6.12 (Debian's /usr/sbin/haproxy, ``option
http-buffer-request``) answered to the same bytes; we match it except where
noted ("we refuse"), always on the stricter side.  A repaired request (chunks
next to a Content-Length) ends its connection, so nothing after it is read.
"""

from __future__ import annotations

import pytest

from luaproxy.worker.http import RemoteProtocolError
from tests.http.httpkit import FEEDERS, Feeder, run_case

HEAD = b"POST / HTTP/1.1\r\nHost: a\r\n"
NEXT = b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
CHUNKED_BODY = b"3\r\nabc\r\n0\r\n\r\n"
Parsed = list[tuple[str, str, str]]


def _te(value: bytes) -> bytes:
    return HEAD + b"Transfer-Encoding:" + value + b"\r\n\r\n" + CHUNKED_BODY + NEXT


def _cl(value: bytes) -> bytes:
    return HEAD + b"Content-Length:" + value + b"\r\n\r\nabc" + NEXT


def _chunk(size_line: bytes) -> bytes:
    return HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + size_line + b"\r\nabc\r\n0\r\n\r\n" + NEXT


CHUNKED_THEN_NEXT: Parsed = [("POST", "/", "abc"), ("GET", "/next", "")]
CHUNKED_ONLY: Parsed = [("POST", "/", "abc")]

CORPUS: dict[str, tuple[bytes, int | Parsed]] = {
    # CL.TE and TE.CL: the chunks win, the Content-Length (checked first) is dropped and the connection
    # closes after the request, so what followed it is never read as a request (haproxy 2.6.12 the same).
    "cl_te": (HEAD + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY + NEXT, CHUNKED_ONLY),
    "te_cl": (HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n" + CHUNKED_BODY + NEXT, CHUNKED_ONLY),
    "cl_zero_te": (HEAD + b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY + NEXT,
                   CHUNKED_ONLY),
    "cl_te_http10": (
        b"POST / HTTP/1.0\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY + NEXT,
        CHUNKED_ONLY,
    ),
    "te_http10_keep_alive": (
        b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY + NEXT,
        CHUNKED_ONLY,
    ),  # haproxy: 200, then closes
    "te_bad_cl": (HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: abc\r\n\r\n" + CHUNKED_BODY, 400),
    "te_conflicting_cl": (
        HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 5, 5\r\nContent-Length: 7\r\n\r\n" + CHUNKED_BODY,
        400,
    ),  # haproxy: 400 for both
    # TE.TE obfuscations.
    # haproxy: 400
    "te_space_before_colon": (HEAD + b"Transfer-Encoding : chunked\r\n\r\n" + CHUNKED_BODY, 400),
    "te_xchunked": (_te(b" xchunked"), 400),  # haproxy: 400
    "te_chunked_suffix": (_te(b" chunkedx"), 400),
    "te_vertical_tab": (_te(b" \x0bchunked"), 400),  # haproxy: 400
    "te_nul": (_te(b" chunked\x00"), 400),
    "te_chunked_twice_list": (_te(b" chunked, chunked"), 400),  # haproxy: 400
    "te_chunked_twice_fields": (
        HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY,
        400,
    ),  # haproxy: 400
    "te_chunked_then_identity_field": (
        HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n" + CHUNKED_BODY,
        400,
    ),
    "te_gzip_only": (_te(b" gzip"), 400),  # haproxy: 400
    "te_identity": (_te(b" identity"), 400),  # haproxy: 400
    "te_empty": (_te(b" "), 400),  # haproxy: 400
    "te_chunked_not_last": (_te(b" chunked, gzip"), 400),  # haproxy: 400
    "te_coding_before_chunked": (_te(b" gzip, chunked"), 422),  # haproxy: 422 Unprocessable Content
    "te_empty_element_before_chunked": (_te(b" , chunked"), 422),  # haproxy: 422
    "te_parameter": (_te(b" chunked;q=1"), 400),  # haproxy: 400
    "te_quoted": (_te(b' "chunked"'), 400),
    "te_obs_fold": (HEAD + b"Transfer-Encoding:\r\n chunked\r\n\r\n" + CHUNKED_BODY + NEXT,
                    CHUNKED_THEN_NEXT),  # haproxy: unfolded, 200
    "te_name_nul": (HEAD + b"Transfer-Encoding\x00: chunked\r\n\r\n" + CHUNKED_BODY, 400),
    # haproxy: 400
    "te_after_bare_cr": (HEAD + b"X: a\rTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY, 400),
    # Spellings that are plain chunked, read as such (haproxy: 200 for each).
    "te_tab": (_te(b"\tchunked"), CHUNKED_THEN_NEXT),
    "te_no_space": (_te(b"chunked"), CHUNKED_THEN_NEXT),
    "te_upper_case": (_te(b" CHUNKED"), CHUNKED_THEN_NEXT),
    "te_trailing_blanks": (_te(b" chunked \t"), CHUNKED_THEN_NEXT),
    "te_after_bare_lf": (
        HEAD + b"X: a\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY + NEXT,
        CHUNKED_THEN_NEXT,
    ),
    # Content-Length forms.
    # haproxy: 400
    "cl_conflicting_fields": (HEAD + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    "cl_conflicting_list": (_cl(b" 3, 4"), 400),  # haproxy: 400
    "cl_plus": (_cl(b" +3"), 400),  # haproxy: 400
    "cl_negative": (_cl(b" -3"), 400),  # haproxy: 400
    "cl_hex": (_cl(b" 0x3"), 400),  # haproxy: 400
    "cl_decimal_point": (_cl(b" 3.0"), 400),  # haproxy: 400
    "cl_inner_space": (_cl(b" 1 2"), 400),  # haproxy: 400
    "cl_empty": (_cl(b" "), 400),  # haproxy: 400
    "cl_empty_element": (_cl(b" 3,"), 400),  # haproxy: 400
    "cl_huge": (_cl(b" 99999999999999999999999"), 400),  # haproxy: 400
    "cl_2_pow_63": (_cl(b" 9223372036854775808"), 400),  # haproxy: 400 (2^63 - 1 is accepted)
    "cl_5000_digits": (_cl(b" " + b"9" * 5000), 400),  # past Python's int() digit limit
    "cl_5000_digits_repeated": (_cl(b" " + b"9" * 5000 + b", " + b"9" * 5000), 400),
    "cl_leading_zeros": (_cl(b" " + b"0" * 5000 + b"3"), [("POST", "/", "abc"), ("GET", "/next", "")]),
    "cl_space_before_colon": (HEAD + b"Content-Length : 3\r\n\r\nabc", 400),  # haproxy: 400
    "cl_vertical_tab": (_cl(b" \x0b3"), 400),
    "cl_equal_repeats": (
        HEAD + b"Content-Length: 3\r\nContent-Length: 3, 03\r\n\r\nabc" + NEXT,
        [("POST", "/", "abc"), ("GET", "/next", "")],
    ),  # haproxy: 200, merged
    # Chunk sizes.
    "chunk_0x": (_chunk(b"0x3"), 400),  # haproxy: 400
    "chunk_plus": (_chunk(b"+3"), 400),  # haproxy: 400
    "chunk_minus": (_chunk(b"-3"), 400),  # haproxy: 400
    "chunk_leading_space": (_chunk(b" 3"), 400),  # haproxy: 400
    "chunk_not_hex": (_chunk(b"3g"), 400),  # haproxy: 400
    "chunk_empty_size": (_chunk(b""), 400),  # haproxy: 400
    "chunk_overflow_64": (_chunk(b"fffffffffffffffff"), 400),  # haproxy: 400
    "chunk_2_pow_52": (_chunk(b"10000000000000"), 400),  # haproxy: 400 (2^52 - 1 is accepted)
    "chunk_2_pow_63": (_chunk(b"8000000000000000"), 400),  # haproxy: 400
    "chunk_size_bare_cr": (_chunk(b"3\r"), 400),  # haproxy: 400
    "chunk_extension_spaces": (_chunk(b"3 ; ext=1"), CHUNKED_THEN_NEXT),  # haproxy: 200
    # A body that looks like a request stays a body; bytes after a body are the next request.
    "request_inside_chunk": (
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n17\r\nGET /admin HTTP/1.1\r\n\r\n\r\n0\r\n\r\n" + NEXT,
        [("POST", "/", "GET /admin HTTP/1.1\r\n\r\n"), ("GET", "/next", "")],
    ),
    "get_with_length_body": (
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nGET /" + NEXT,
        [("GET", "/", "GET /"), ("GET", "/next", "")],
    ),  # haproxy: two 200s
    "zero_length_then_request": (
        HEAD + b"Content-Length: 0\r\n\r\n" + NEXT,
        [("POST", "/", ""), ("GET", "/next", "")],
    ),
}


def _requests(events: list[dict]) -> Parsed:
    parsed: Parsed = []
    for event in events:
        if event["type"] == "Request":
            parsed.append((event["method"], event["target"], ""))
        elif event["type"] == "Data":
            method, target, body = parsed[-1]
            parsed[-1] = (method, target, body + event["data"])
    return parsed


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 25


@pytest.mark.parametrize("feeder", FEEDERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_smuggling_case(name: str, feeder: Feeder) -> None:
    raw, expected = CORPUS[name]
    spec = {"role": "server"}
    if isinstance(expected, int):
        with pytest.raises(RemoteProtocolError) as caught:
            run_case(raw, spec, feeder)
        assert caught.value.status_hint == expected
    else:
        assert _requests(run_case(raw, spec, feeder).events) == expected
