"""Protocol converters on a buffer's first message: fix_is_valid, fix_tag_value, mqtt_is_valid, mqtt_field_value.

A message still arriving gives no sample and marks the evaluation incomplete,
so that a TCP content rule waits for more data (within its inspect-delay)
instead of deciding on a partial message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import proto_fix, proto_mqtt
from .args import ArgType, ParseEnv, arg_spec
from .context import SampleContext
from .errors import SampleError
from .registry import converter
from .types import Sample, SampleType

T = SampleType
A = ArgType


def _incomplete(ctx: SampleContext) -> None:
    ctx.incomplete = True


def _fix_is_valid(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    status = proto_fix.validate(smp.value)
    if status is proto_fix.Status.NEED_MORE:
        _incomplete(ctx)
        return None
    return Sample(T.BOOL, status is proto_fix.Status.VALID)


def _check_fix_tag(values: list[Any], env: ParseEnv) -> list[Any]:
    tag = proto_fix.tag_for_argument(values[0])
    if not tag:
        raise SampleError(f"Unknown FIX tag name '{values[0]}'")
    return [tag]


def _fix_tag_value(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    value = proto_fix.tag_value(smp.value, args[0])
    if value is proto_fix.Status.NEED_MORE:
        _incomplete(ctx)
    return Sample(T.BIN, value) if isinstance(value, bytes) else None


def _mqtt_is_valid(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    status, _ = proto_mqtt.parse(smp.value)
    if status is proto_mqtt.Status.NEED_MORE:
        _incomplete(ctx)
        return None
    return Sample(T.BOOL, status is proto_mqtt.Status.VALID)


def _check_mqtt_field(values: list[Any], env: ParseEnv) -> list[Any]:
    kind = proto_mqtt.type_for_argument(values[0])
    if not kind:
        raise SampleError(f"Unknown MQTT type '{values[0]}'")
    name = proto_mqtt.field_for_argument(kind, values[1])
    if name is None:
        raise SampleError(f"Unknown MQTT field name '{values[1]}' for packet type '{values[0]}'")
    return [kind, name]


def _mqtt_field_value(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    value = proto_mqtt.field_value(smp.value, args[0], args[1])
    if value is proto_mqtt.Status.NEED_MORE:
        _incomplete(ctx)
    return Sample(T.STR, value.decode("latin-1")) if isinstance(value, bytes) else None


CONVERTERS = (
    converter("fix_is_valid", _fix_is_valid, T.BIN, T.BOOL, "True if the input starts with a valid FIX message."),
    converter(
        "fix_tag_value",
        _fix_tag_value,
        T.BIN,
        T.BIN,
        "The value of a tag (id or name: BeginString, MsgType...) of a FIX message.",
        arg_spec(A.STR, check=_check_fix_tag),
    ),
    converter("mqtt_is_valid", _mqtt_is_valid, T.BIN, T.BOOL, "True if the input starts with a valid MQTT packet."),
    converter(
        "mqtt_field_value",
        _mqtt_field_value,
        T.BIN,
        T.STR,
        "A field (name or v5 property id) of an MQTT CONNECT or CONNACK packet.",
        arg_spec(A.STR, A.STR, check=_check_mqtt_field),
    ),
)
