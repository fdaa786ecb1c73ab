"""fix_* and mqtt_* converters checked against haproxy 2.6.12 (Debian 12), message by message.

How the values were obtained: ``data/haproxy_proto_values.json`` holds
[converter, input in hex, haproxy's value or null]; each row was run on
haproxy as ``http-request set-var(txn.r) bin(<hex>),<converter>`` with a rule
returning ``%[var(txn.r)]``.  The inputs are the messages of HAProxy's
converter/fix.vtc and converter/mqtt.vtc plus truncated, extended and broken
variants (bad checksum, body length, flags, protocol names and versions).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from luaproxy.worker.samples import SampleError, SampleRegistry, parse_expr, to_text
from tests.samples.streamkit import Stream

ROWS = json.loads((Path(__file__).parent / "data" / "haproxy_proto_values.json").read_text())


def proto_expr(converter: str, hexa: str) -> str:
    return f"bin({hexa}),{converter}"


def test_every_protocol_value_matches_haproxy(registry: SampleRegistry) -> None:
    wrong = []
    for converter, hexa, expected in ROWS:
        got = to_text(parse_expr(proto_expr(converter, hexa), registry).evaluate(Stream()))
        if got != expected:
            wrong.append((converter, hexa, expected, got))
    assert not wrong, wrong[:5]
    assert len(ROWS) > 1000


def test_a_message_still_arriving_marks_the_evaluation_incomplete(registry: SampleRegistry) -> None:
    partial = "101800044d5154540502003c032100140008746573745f7375"
    for converter in ("mqtt_is_valid", "mqtt_field_value(connect,username)"):
        ctx = Stream()
        assert parse_expr(proto_expr(converter, partial), registry).evaluate(ctx) is None
        assert ctx.incomplete
    ctx = Stream()
    assert to_text(parse_expr(proto_expr("mqtt_is_valid", "d000"), registry).evaluate(ctx)) == "0"
    assert not ctx.incomplete


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("bin(00),fix_tag_value(Nope)", "Unknown FIX tag name 'Nope'"),
        ("bin(00),fix_tag_value(0)", "Unknown FIX tag name '0'"),
        ("bin(00),mqtt_field_value(nope,flags)", "Unknown MQTT type 'nope'"),
        ("bin(00),mqtt_field_value(connack,username)", "Unknown MQTT field name 'username' for packet type 'connack'"),
    ],
)
def test_protocol_converter_arguments_are_checked(text: str, error: str, registry: SampleRegistry) -> None:
    with pytest.raises(SampleError, match=error):
        parse_expr(text, registry)
