"""json_query checked against haproxy 2.6.12 (Debian 12), document by document.

How the values were obtained: for each case, ``http-request set-var(txn.r)
bin(<document in hex>),json_query('<path>'[,'int']),hex`` (the config's quotes
leave the path to the sample parser as ``json_expr`` writes it) and a rule
printing ``%[var(txn.r)]`` when it is set; the hex text, decoded, is the
expected value here (None: no sample).  ``,hex`` keeps types visible: an
integer or a boolean shows as its 8 big-endian bytes.
"""

from __future__ import annotations

import pytest

from luaproxy.worker.samples import SampleError, SampleRegistry, parse_expr, to_text
from tests.samples.streamkit import Stream

DOC = (
    '{"iss":"kube.io/sa","integer":4,"negativ-integer":-4,"double":3.14,"boolean-true":true,"bo'
    'olean-false":false,"my.key":"myvalue","n":null,"a":[1,"two",{"x":"y"}],"o":{"p":{"q":"deep'
    '"}},"big":12345678901234567890,"e":1e3,"f":1.5,"neg0":-0,"dup":1,"dup":2,"fs":0.1,"g":1234'
    '56789.0,"h":1e20,"k":0.000001234}'
)

HAPROXY_JSON = [
    (DOC, '$.iss', False, b'kube.io/sa'),
    (DOC, '$.integer', True, b'\x00\x00\x00\x00\x00\x00\x00\x04'),
    (DOC, '$.integer', False, b'4'),
    (DOC, '$.negativ-integer', True, b'\xff\xff\xff\xff\xff\xff\xff\xfc'),
    (DOC, '$.double', False, b'3.14'),
    (DOC, '$.double', True, b'\x00\x00\x00\x00\x00\x00\x00\x03'),
    (DOC, '$.boolean-true', False, b'\x00\x00\x00\x00\x00\x00\x00\x01'),
    (DOC, '$.boolean-false', False, b'\x00\x00\x00\x00\x00\x00\x00\x00'),
    (DOC, '$.my\\.key', False, b'myvalue'),
    (DOC, '$.n', False, None),
    (DOC, '$.a', False, None),
    (DOC, '$.a[1]', False, b'two'),
    (DOC, '$.a[2].x', False, b'y'),
    (DOC, '$.a[0]', True, b'\x00\x00\x00\x00\x00\x00\x00\x01'),
    (DOC, '$.o', False, None),
    (DOC, '$.o.p.q', False, b'deep'),
    (DOC, '$.big', True, None),
    (DOC, '$.big', False, b'1.23457e+19'),
    (DOC, '$.e', False, b'1000'),
    (DOC, '$.e', True, b'\x00\x00\x00\x00\x00\x00\x00\x01'),
    (DOC, '$.f', False, b'1.5'),
    (DOC, '$.neg0', False, b'-0'),
    (DOC, '$.dup', False, b'1'),
    (DOC, '$.fs', False, b'0.1'),
    (DOC, '$.g', False, b'1.23457e+08'),
    (DOC, '$.h', False, b'1e+20'),
    (DOC, '$.k', False, b'1.234e-06'),
    (DOC, '$.missing', False, None),
    (DOC, '$', False, None),
    (DOC, '$.iss', True, b'kube.io/sa'),
    (DOC, '$.boolean-true', True, b'\x00\x00\x00\x00\x00\x00\x00\x01'),
    (DOC, 'iss', False, None),
    (DOC, '$..iss', False, None),
    (DOC, '$.a[9]', False, None),
    (DOC, '$.a.0', False, None),
    (DOC, '$[0]', False, None),
    (DOC, '$.o[0]', False, None),
    (DOC, '$.my.key', False, None),
    ('{"a":"a\\"b"}', '$.a', False, b'a"b'),
    ('{"a":"a\\\\b"}', '$.a', False, b'a\\b'),
    ('{"a":"a\\/b"}', '$.a', False, None),
    ('{"a":"a\\nb"}', '$.a', False, b'a\nb'),
    ('{"a":"\\u00e9"}', '$.a', False, b'\xe9'),
    ('{"a":"\\u20ac"}', '$.a', False, None),
    ('{"a":"\\u0041"}', '$.a', False, b'A'),
    ('{"a":"\\t\\r\\b\\f"}', '$.a', False, b'\t\r\x08\x0c'),
    ('{"a":"\\u00E9"}', '$.a', False, b'\xe9'),
    ('{"a":"\\u0100"}', '$.a', False, None),
    ('{"a":"a\x01b"}', '$.a', False, b'a\x01b'),
    ('{"a":"a\\u00"}', '$.a', False, None),
    ('{"a":"\\ud83d\\ude00"}', '$.a', False, None),
    ('{"a":"\\u0000z"}', '$.a', False, b'\x00z'),
    ('{"a":"x\\qy"}', '$.a', False, None),
    ('{"a":"\\u00"}', '$.a', False, None),
    ('{"a":"x\x00y"}', '$.a', False, None),
    ('{"a":"x\\\\.y"}', '$.a', False, b'x\\.y'),
    ('{"a":1,', '$.a', False, b'1'),
    ('{"a":1', '$.a', False, b'1'),
    ('x{"a":1}', '$.a', False, None),
    ('[1,2]', '$[1]', False, b'2'),
    ('5', '$', False, b'5'),
    ('"x"', '$', False, b'x'),
    ('{"a" : [ 1 , 2 ] , "b" : "c" }', '$.b', False, b'c'),
    ('{"a":01}', '$.a', False, b'1'),
    ('{"a":{"b":1},"c":2}', '$.c', False, b'2'),
    ('{"a":tru}', '$.a', False, None),
    ('{"a":1} trailing', '$.a', False, b'1'),
    ('{"a":"é"}', '$.a', False, b'\xe9'),
    ('{"a":{"b":[1,{"c":[5,6]}]}}', '$.a.b[1].c[1]', False, b'6'),
    ('{"a.b":1,"a":{"b":2}}', '$.a.b', False, b'2'),
    ('{"a":1}', '$.a.b', False, None),
    ('{"a":"1"}', '$.a', True, b'1'),
    ('{"a":-}', '$.a', False, b'0'),
    ('{"a":1.}', '$.a', False, b'1'),
    ('{"a":.5}', '$.a', False, None),
    ('{"a":1e}', '$.a', False, b'1'),
    ('{"a":+1}', '$.a', False, None),
    ('{"a":9223372036854775807}', '$.a', True, None),
    ('{"a":123456}', '$.a', False, b'123456'),
    ('{"a":1234567}', '$.a', False, b'1.23457e+06'),
    ('{"x":[1,2],"a":3}', '$.a', False, b'3'),
    ('{ }', '$.a', False, None),
    ('{"\\u0061":1}', '$.a', False, None),
    ('{"a":"x"}', '$.a[0]', False, None),
    ('[[1,2],[3,4]]', '$[1][0]', False, b'3'),
    ('{"a":1}', '$.', False, None),
    ('{"a":{"":5}}', '$.a.', False, b'5'),
    ('{"a":1}', '$ .a', False, None),
    ('{"a":1}}', '$.a', False, b'1'),
    ('{"b":tru,"a":1}', '$.a', False, None),
    ('{"a":1,"b":tru}', '$.a', False, b'1'),
    ('{"a":null}', '$.a', True, None),
    ('{"a":0.1e1}', '$.a', True, b'\x00\x00\x00\x00\x00\x00\x00\x00'),
    ('{"a":-1.9}', '$.a', True, b'\xff\xff\xff\xff\xff\xff\xff\xff'),
    ('{"a":0x1F}', '$.a', True, b'\x00\x00\x00\x00\x00\x00\x00\x1f'),
    ('{"a":010}', '$.a', True, b'\x00\x00\x00\x00\x00\x00\x00\x08'),
    ('{"a":9007199254740991}', '$.a', True, b'\x00\x1f\xff\xff\xff\xff\xff\xff'),
    ('{"a":9007199254740992}', '$.a', True, None),
    ('{"a":-9007199254740991}', '$.a', True, b'\xff\xe0\x00\x00\x00\x00\x00\x01'),
    ('{"a":-9007199254740992}', '$.a', True, None),
    ('{"a":-}', '$.a', True, b'\x00\x00\x00\x00\x00\x00\x00\x00'),
    ('{"a":[5,6,7,8,9,10,11,12,13,14,15,16]}', '$.a[11]', False, b'16'),
    ('{"a":[5,6]}', '$.a[0]', False, b'5'),
    ('{"a":[[1],6]}', '$.a[1]', False, b'6'),
    ('{"a": 1 }', '$.a', False, b'1'),
    ('{"a":1.0}', '$.a', False, b'1'),
    ('{"a":1e400}', '$.a', False, b'inf'),
    ('{"a":-1e400}', '$.a', False, b'-inf'),
    ('{"a":123456789012}', '$.a', True, b'\x00\x00\x00\x1c\xbe\x99\x1a\x14'),
    ('{"a":0.30000000000000004}', '$.a', False, b'0.3'),
    ('{"a":[1,2]}', '$.a[x]', False, b'1'),
    ('{"a":[1,2,3]}', '$.a[1].b', False, None),
    ('{"a":[1,{"b":4}]}', '$.a[1].b', False, b'4'),
    ('{"a":[1,2]}', '$.a[01]', False, b'2'),
    ('{"a":{"b":1},"b":2}', '$.b', False, b'2'),
    ('{"a":{"b":{"c":1}},"x":2}', '$.a.x', False, None),
    ('{"a":true}', '$.a', False, b'\x00\x00\x00\x00\x00\x00\x00\x01'),
    ('{"a":[]}', '$.a[0]', False, None),
    ('{"a":[],"b":1}', '$.b', False, b'1'),
    ('{"a":{},"b":1}', '$.b', False, b'1'),
    ('[]', '$[0]', False, None),
    ('{"a":[1,[2,3],4]}', '$.a[2]', False, b'4'),
    ('{"a":{"a":{"a":7}}}', '$.a.a.a', False, b'7'),
    ('{"a":fals}', '$.a', False, None),
    ('{"a":false', '$.a', False, b'\x00\x00\x00\x00\x00\x00\x00\x00'),
    ('{"a":nul}', '$.a', False, None),
]


def json_expr(document: str, path: str, as_int: bool) -> str:
    quoted = path.replace("\\", "\\\\")
    output = ",int" if as_int else ""
    return f"bin({document.encode('latin-1').hex()}),json_query({quoted}{output}),hex"


@pytest.mark.parametrize(("document", "path", "as_int", "expected"), HAPROXY_JSON)
def test_json_query_matches_haproxy(
    document: str, path: str, as_int: bool, expected: bytes | None, registry: SampleRegistry
) -> None:
    text = to_text(parse_expr(json_expr(document, path, as_int), registry).evaluate(Stream()))
    assert (None if text is None else bytes.fromhex(text)) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("str(x),json_query", "json_path must not be empty"),
        ("str(x),json_query('$.a','str')", 'output_type only supports "int" as argument'),
    ],
)
def test_json_query_arguments_are_checked(text: str, error: str, registry: SampleRegistry) -> None:
    with pytest.raises(SampleError, match=error):
        parse_expr(text, registry)
