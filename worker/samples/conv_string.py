"""String converters: case, fields and words, regex substitution, concatenation, JSON, URLs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .args import ArgType, ParseEnv, arg_spec
from .context import SampleContext
from .errors import SampleError
from .registry import converter
from .text import ascii_lower, ascii_upper, url_decode
from .types import Sample, SampleType, to_text
from .vars import VarName, parse_var_name

T = SampleType
A = ArgType


def _text(fn: Any) -> Any:
    """A converter from a str -> str | None function."""

    def run(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
        out = fn(smp.value, *args)
        return None if out is None else Sample(T.STR, out)

    return run


def _check_index(values: list[Any], env: ParseEnv) -> list[Any]:
    if values[0] == 0:
        raise SampleError("Unexpected value 0 for index.")
    if not values[1]:
        raise SampleError("Empty separators list.")
    return values


def field(text: str, index: int, seps: str, count: int = 1) -> str | None:
    """HAProxy's field converter: empty fields count; None when the field does not exist."""
    n = len(text)
    if index < 0:
        current = -1
        start = end = n
        while start > 0:
            if text[start - 1] in seps:
                if current == index:
                    if count == 1:
                        return text[start:end]
                    if count > 1:
                        count -= 1
                else:
                    end = start - 1
                    current -= 1
            start -= 1
    else:
        current = 1
        start = end = 0
        while end < n:
            if text[end] in seps:
                if current == index:
                    if count == 1:
                        return text[start:end]
                    if count > 1:
                        count -= 1
                else:
                    start = end + 1
                    current += 1
            end += 1
    return text[start:end] if current == index else None


def word(text: str, index: int, seps: str, count: int = 1) -> str:
    """HAProxy's word converter: runs of separators are skipped; a missing word is empty."""
    n = len(text)
    current = 0
    inword = False
    if index < 0:
        start = end = n
        while start > 0:
            issep = text[start - 1] in seps
            if not inword:
                if not issep:
                    if current != index:
                        current -= 1
                        end = start
                    inword = True
            elif issep:
                if current == index:
                    if count == 1:
                        return text[start:end]
                    if count > 1:
                        count -= 1
                inword = False
            start -= 1
    else:
        start = end = 0
        while end < n:
            issep = text[end] in seps
            if not inword:
                if not issep:
                    if current != index:
                        current += 1
                        start = end
                    inword = True
            elif issep:
                if current == index:
                    if count == 1:
                        return text[start:end]
                    if count > 1:
                        count -= 1
                inword = False
            end += 1
    return text[start:end] if current == index else ""


def _check_regsub(values: list[Any], env: ParseEnv) -> list[Any]:
    flags = values[2] if len(values) > 2 else ""
    for flag in flags:
        if flag not in "gi":
            raise SampleError(f"invalid regex flag '{flag}', only 'i' and 'g' are supported")
    try:
        regex = re.compile(values[0], re.ASCII | (re.IGNORECASE if "i" in flags else 0))
    except re.error as err:
        raise SampleError(f"regex '{values[0]}' is invalid (error={err.msg}, erroffset={err.pos})") from None
    return [regex, values[1], "g" in flags]


def expand_template(template: str, match: re.Match[str]) -> str | None:
    r"""HAProxy's exp_replace: \0-\9 back-references, \xHH bytes, \c the character c."""
    out: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        ch = template[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            return None
        nxt = template[i + 1]
        if nxt.isdigit():
            group = int(nxt)
            if group <= (match.re.groups or 0):
                out.append(match.group(group) or "")
            i += 2
        elif nxt == "x":
            hexa = template[i + 2 : i + 4]
            if len(hexa) != 2:
                return None
            try:
                out.append(chr(int(hexa, 16)))
            except ValueError:
                return None
            i += 4
        else:
            out.append(nxt)
            i += 2
    return "".join(out)


def _regsub(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    regex, template, every = args
    text = smp.value
    out: list[str] = []
    pos = 0
    for m in regex.finditer(text):
        replaced = expand_template(template, m)
        if replaced is None:
            return None
        out.append(text[pos : m.start()])
        out.append(replaced)
        pos = m.end()
        if not every:
            break
    out.append(text[pos:])
    return Sample(T.STR, "".join(out))


def _bytes(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    data = smp.value
    offset = args[0]
    if offset < 0 or offset >= len(data):
        return Sample(T.BIN, b"")
    end = offset + args[1] if len(args) > 1 and args[1] >= 0 else len(data)
    return Sample(T.BIN, data[offset:end])


def check_var_arg(position: int) -> Any:
    """A check turning the (optional) argument at *position* into a VarName."""

    def check(values: list[Any], env: ParseEnv) -> list[Any]:
        if len(values) > position and values[position]:
            try:
                values[position] = parse_var_name(values[position])
            except SampleError:
                raise SampleError(f"failed to register variable name '{values[position]}'") from None
        elif len(values) > position:
            values[position] = None
        return values

    return check


def var_text(ctx: SampleContext, var: VarName | None) -> str | None:
    return None if var is None else to_text(ctx.vars.get(var))


def _concat(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    start = args[0] if args else ""
    middle = var_text(ctx, args[1] if len(args) > 1 else None) or ""
    end = args[2] if len(args) > 2 else ""
    return Sample(T.STR, smp.value + start + middle + end)


def _check_add_item(values: list[Any], env: ParseEnv) -> list[Any]:
    values = check_var_arg(1)(values, env)
    if values[1] is None and (len(values) < 3 or not values[2]):
        raise SampleError("expects <var> or <suff>")
    return values


def _add_item(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    delim = args[0]
    middle = var_text(ctx, args[1]) or ""
    suffix = args[2] if len(args) > 2 else ""
    current = smp.value
    if current and (middle or suffix):
        current += delim
    return Sample(T.STR, current + middle + suffix)


def _strcmp(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    other = var_text(ctx, args[0])
    if other is None:
        return None
    mine: str = smp.value
    common = min(len(mine), len(other))
    for a, b in zip(mine[:common], other[:common], strict=True):
        if a != b:
            return Sample(T.SINT, ord(a) - ord(b))
    return Sample(T.SINT, len(mine) - len(other))


_JSON_CODES = ("ascii", "utf8", "utf8s", "utf8p", "utf8ps")
_JSON_SPECIAL = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _check_json(values: list[Any], env: ParseEnv) -> list[Any]:
    if values and values[0] not in _JSON_CODES:
        raise SampleError(
            "Unexpected input code type. Allowed value are 'ascii', 'utf8', 'utf8s', 'utf8p' and 'utf8ps'."
        )
    return values


def _json(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    code = args[0] if args else "ascii"
    text: str = smp.value
    if code != "ascii":
        try:
            text = text.encode("latin-1").decode("utf-8", "ignore" if code.endswith("s") else "strict")
        except UnicodeDecodeError:
            return None
    out: list[str] = []
    for ch in text:
        special = _JSON_SPECIAL.get(ch)
        if special is not None:
            out.append(special)
        elif ord(ch) > 0xFFFF:
            if code.endswith("s"):
                continue
            return None
        elif ord(ch) < 0x20 or ord(ch) > 0x7E:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return Sample(T.STR, "".join(out))


def _range_match(token: str, tag: str) -> bool:
    """http_language_range_match: 'fr-CH' matches tag 'fr'; tags compare case-sensitively."""
    t = 0
    for ch in token:
        if ch == "-" and t == len(tag):
            return True
        if t == len(tag) or ch != tag[t]:
            return False
        t += 1
    return t == len(tag)


def _qvalue(text: str, i: int) -> tuple[int, int]:
    """http_parse_qvalue, including its habit of stepping over the character after the integer part."""
    n = len(text)
    if i >= n or not text[i].isdigit():
        return 1000, i
    q = (ord(text[i]) - 48) * 1000
    i += 1
    dot = i < n and text[i] == "."
    i += 1
    if dot:
        for weight in (100, 10, 1):
            if i >= n or not text[i].isdigit():
                break
            q += (ord(text[i]) - 48) * weight
            i += 1
    return min(q, 1000), i


def language(header: str, wanted: str, default: str = "") -> str | None:
    """The listed language with the best q-value in an Accept-Language value (HAProxy's q_preferred)."""
    tags = wanted.split(";")
    best_q = 0
    best = ""
    i = 0
    n = len(header)
    while True:
        while i < n and header[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        while i < n and header[i] not in ";," and not header[i].isspace():
            i += 1
        token = header[start:i]
        tag = next((t for t in tags if token and _range_match(token, t)), None)
        if tag is not None:
            q = 1000
            while i < n and header[i].isspace():
                i += 1
            if i < n and header[i] == ";":
                i += 1
                while i < n and header[i].isspace():
                    i += 1
                if i < n and header[i] == "q":
                    i += 1
                    while i < n and header[i].isspace():
                        i += 1
                    if i < n and header[i] == "=":
                        i += 1
                        while i < n and header[i].isspace():
                            i += 1
                        if i < n:
                            q, i = _qvalue(header, i)
            elif i < n and header[i] != ",":
                q = -1
            if q > best_q:
                best = tag
                if q >= 1000:
                    break
                best_q = q
        while i < n and header[i] != ",":
            i += 1
        if i >= n:
            break
        i += 1
    if not best and default:
        best = default
    return best or None


def _url_enc(text: str, kind: str = "query") -> str:
    safe = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
    return "".join(ch if ord(ch) < 128 and ord(ch) in safe else f"%{ord(ch):02X}" for ch in text)


def _check_url_enc(values: list[Any], env: ParseEnv) -> list[Any]:
    if values and values[0] != "query":
        raise SampleError(f"Unexpected encode type. Allowed value is 'query', got '{values[0]}'")
    return values


def _split_host_port(value: str) -> tuple[str, str]:
    if value.startswith("["):
        close = value.find("]")
        if close >= 0:
            rest = value[close + 1 :]
            return value[: close + 1], rest[1:] if rest.startswith(":") else ""
    host, colon, port = value.rpartition(":")
    if colon and port.isdigit():
        return host, port
    return value, ""


def _host_only(text: str) -> str:
    return ascii_lower(_split_host_port(text)[0])


def _port_only(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    port = _split_host_port(smp.value)[1]
    return Sample(T.SINT, int(port) if port else 0)


def _cut_crlf(text: str) -> str:
    for i, ch in enumerate(text):
        if ch in "\r\n":
            return text[:i]
    return text


def _iif(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    return Sample(T.STR, args[0] if smp.value else args[1])


def _length(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    return Sample(T.SINT, len(smp.value))


def _url_dec(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    out = url_decode(smp.value, bool(args and args[0]))
    return None if out is None else Sample(T.STR, out)


_OPT_STR3 = arg_spec(A.STR, A.STR, A.STR, required=0)

CONVERTERS = (
    converter("lower", _text(ascii_lower), T.STR, T.STR, "ASCII letters to lower case."),
    converter("upper", _text(ascii_upper), T.STR, T.STR, "ASCII letters to upper case."),
    converter("length", _length, T.STR, T.SINT, "Length of the string."),
    converter(
        "field",
        _text(field),
        T.STR,
        T.STR,
        "The n-th field (negative: from the end) between delimiter chars; empty fields count.",
        arg_spec(A.SINT, A.STR, A.SINT, required=2, check=_check_index),
    ),
    converter(
        "word",
        _text(word),
        T.STR,
        T.STR,
        "The n-th word (negative: from the end); runs of delimiters count once.",
        arg_spec(A.SINT, A.STR, A.SINT, required=2, check=_check_index),
    ),
    converter(
        "regsub",
        _regsub,
        T.STR,
        T.STR,
        "Regex substitution like sed's s/re/sub/, flags 'g' and 'i'.",
        arg_spec(A.STR, A.STR, A.STR, required=2, check=_check_regsub),
    ),
    converter(
        "bytes",
        _bytes,
        T.BIN,
        T.BIN,
        "A slice of a binary sample: offset and optional length.",
        arg_spec(A.SINT, A.SINT, required=1),
    ),
    converter(
        "concat",
        _concat,
        T.STR,
        T.STR,
        "Appends a constant, a variable and another constant.",
        arg_spec(A.STR, A.VAR, A.STR, required=0, check=check_var_arg(1)),
    ),
    converter(
        "add_item",
        _add_item,
        T.STR,
        T.STR,
        "Appends delimiter (when useful), variable and suffix.",
        arg_spec(A.STR, A.VAR, A.STR, required=1, check=_check_add_item),
    ),
    converter(
        "strcmp",
        _strcmp,
        T.STR,
        T.SINT,
        "Compares with a variable like strcmp(3): 0 when equal.",
        arg_spec(A.VAR, check=check_var_arg(0)),
    ),
    converter(
        "json",
        _json,
        T.STR,
        T.STR,
        "Escapes for a JSON string; input decoded as ascii or utf8[s|p|ps].",
        arg_spec(A.STR, required=0, check=_check_json),
    ),
    converter(
        "language",
        _text(language),
        T.STR,
        T.STR,
        "Best listed language ('en;fr') of an Accept-Language value, else the default.",
        arg_spec(A.STR, A.STR, required=1),
    ),
    converter(
        "ltrim",
        _text(lambda text, chars: text.lstrip(chars)),
        T.STR,
        T.STR,
        "Strips the given characters from the start.",
        arg_spec(A.STR),
    ),
    converter(
        "rtrim",
        _text(lambda text, chars: text.rstrip(chars)),
        T.STR,
        T.STR,
        "Strips the given characters from the end.",
        arg_spec(A.STR),
    ),
    converter("cut_crlf", _text(_cut_crlf), T.STR, T.STR, "Cuts the string at the first CR or LF."),
    converter(
        "url_dec",
        _url_dec,
        T.STR,
        T.STR,
        "URL-decodes; '+' is a space in a query string (or everywhere if in_form).",
        arg_spec(A.SINT, required=0),
    ),
    converter(
        "url_enc",
        _text(_url_enc),
        T.STR,
        T.STR,
        "URL-encodes for a query string (RFC 3986 unreserved kept).",
        arg_spec(A.STR, required=0, check=_check_url_enc),
    ),
    converter("host_only", _text(_host_only), T.STR, T.STR, "A Host header value without its port, lower-cased."),
    converter("port_only", _port_only, T.STR, T.SINT, "The port of a Host header value, 0 when absent."),
    converter(
        "iif", _iif, T.BOOL, T.STR, "The first string if the input is true, else the second.", arg_spec(A.STR, A.STR)
    ),
)
