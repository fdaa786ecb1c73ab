"""``compression algo|type|offload`` and ``filter compression``: HAProxy 2.6's HTTP compression, with zlib.

The request picks the algorithm (the client's best-weighted encoding among the
configured ones; none for HTTP/1.0 or an old ``Mozilla/4`` browser), and
``offload`` hides its Accept-Encoding from the server.  The response is
compressed when it is a 200 to an HTTP/1.1 request, in HTTP/1.1, with a body,
with a known length or chunked, not already encoded, without ``Cache-Control: no-transform``, not multipart,
of a configured type (when types are listed) and with at most one valid ETag:
then Content-Length goes (the body is chunked), a strong ETag turns weak,
``Vary: Accept-Encoding`` and ``Content-Encoding`` are added.  The ``identity``
algorithm, chosen when nothing better matches, only does the header part.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any

from ..http.framing import NONE, UNTIL_CLOSE, response_framing
from ..http.grammar import at_least_http11
from ..http.message import Headers, ResponseHead
from .chain import reframe

ALGORITHMS = {"identity": ("identity", 0), "gzip": ("gzip", 31), "deflate": ("deflate", 15),
              "raw-deflate": ("deflate", -15)}
"""Algorithm name -> (the token clients ask for and Content-Encoding carries, zlib's wbits)."""

LEVEL = 1
"""zlib's level: HAProxy's default (``tune.comp.maxlevel 1``), fast rather than small."""
_ETAG = re.compile(r'(W/)?"[^"]*"')


@dataclass(frozen=True, slots=True)
class CompressionSettings:
    """A proxy's ``compression`` lines."""

    algorithms: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    offload: bool = False


def parse(lines: list[tuple[str, ...]]) -> CompressionSettings:
    """Merge ``compression`` lines; ValueError names what is wrong."""
    algorithms: list[str] = []
    types: list[str] = []
    offload = False
    for words in lines:
        if not words:
            raise ValueError("'compression' expects 'algo', 'type' or 'offload'")
        what, args = words[0], words[1:]
        if what == "algo":
            if not args:
                raise ValueError("'compression algo' expects at least one algorithm")
            for name in args:
                if name not in ALGORITHMS:
                    raise ValueError(f"unknown compression algorithm '{name}' (expected one of: "
                                     f"{', '.join(ALGORITHMS)})")
                algorithms.append(name)
        elif what == "type":
            if not args:
                raise ValueError("'compression type' expects at least one content type")
            types.extend(t.lower() for t in args)
        elif what == "offload":
            if args:
                raise ValueError("'compression offload' takes no argument")
            offload = True
        else:
            raise ValueError(f"unknown 'compression' option '{what}' (expected 'algo', 'type' or 'offload')")
    return CompressionSettings(tuple(algorithms), tuple(types), offload)


def _weighted(headers: Headers) -> list[tuple[str, float]]:
    """Accept-Encoding's tokens (lower case) with their q-values, in order."""
    found = []
    for value in headers.get_values("accept-encoding"):
        token, _, params = value.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, arg = param.strip().partition("=")
            if name.lower() == "q":
                try:
                    weight = float(arg)
                except ValueError:
                    weight = 0.0
        if token.strip():
            found.append((token.strip().lower(), weight))
    return found


def _old_browser(headers: Headers) -> bool:
    """Mozilla/4 browsers other than MSIE 6 SV1 and later mishandle compressed bodies."""
    agents = headers.get_all("user-agent")
    if not agents or not agents[0].startswith("Mozilla/4"):
        return False
    agent = agents[0]
    msie = agent.find("MSIE ")
    if msie < 0 or len(agent) <= msie + 5 or not agent[msie + 5].isdigit():
        return True
    version = agent[msie + 5]
    return version < "6" or (version == "6" and "SV1" not in agent)


class Compressor:
    """A body filter compressing with zlib; what zlib holds back comes out at the end."""

    __slots__ = ("zlib",)

    def __init__(self, wbits: int) -> None:
        self.zlib = zlib.compressobj(LEVEL, zlib.DEFLATED, wbits)

    def data(self, data: bytes) -> bytes:
        return self.zlib.compress(data) + self.zlib.flush(zlib.Z_SYNC_FLUSH)

    def end(self) -> bytes:
        return self.zlib.flush(zlib.Z_FINISH)


@dataclass(frozen=True, slots=True)
class ChosenAlgorithm:
    """The algorithm a request chose; on the response it decides and prepares compression."""

    name: str
    types: tuple[str, ...]

    def on_response(self, txn: Any, state: Any, head: ResponseHead) -> None:
        if not self._compressible(txn, head):
            return
        token, wbits = ALGORITHMS[self.name]
        headers = head.headers
        etags = headers.get_all("etag")
        if etags and not etags[0].startswith("W/"):
            headers.fields[:] = [(n, f"W/{v}" if n.lower() == "etag" else v) for n, v in headers.fields]
        reframe(head)
        if not any(v.lower() == "accept-encoding" for v in headers.get_values("vary")):
            headers.add("vary", "Accept-Encoding")
        if wbits:
            headers.add("content-encoding", token)
        if wbits:
            state.body.append(Compressor(wbits))

    def _compressible(self, txn: Any, head: ResponseHead) -> bool:
        headers = head.headers
        if not 200 <= head.status <= 203 or not at_least_http11(head.version) or headers.contains("content-encoding"):
            return False
        framing, _ = response_framing(head, txn.request.method)
        if framing.kind is NONE or framing.kind is UNTIL_CLOSE:
            return False
        if "no-transform" in [v.lower() for v in headers.get_values("cache-control")]:
            return False
        types = headers.get_all("content-type")
        kind = types[0].strip().lower() if types else ""
        if kind.startswith("multipart"):
            return False
        if self.types and not any(kind.startswith(t) for t in self.types):
            return False
        etags = headers.get_all("etag")
        return len(etags) <= 1 and (not etags or _ETAG.fullmatch(etags[0].strip()) is not None)


@dataclass(frozen=True, slots=True)
class CompressionFilter:
    """The compression filter of one proxy (its settings, the backend's types winning over the frontend's)."""

    settings: CompressionSettings

    def on_request(self, txn: Any) -> ChosenAlgorithm | None:
        request = txn.request
        if not self.settings.algorithms or not at_least_http11(request.version) or _old_browser(request.headers):
            return None
        best: tuple[float, str] | None = None
        for token, weight in _weighted(request.headers):
            if weight <= 0:
                continue
            for name in self.settings.algorithms:
                if (token == "*" or ALGORITHMS[name][0] == token) and (best is None or weight > best[0]):
                    best = (weight, name)
        if best is None:
            # identity needs no Accept-Encoding: the body is only re-chunked
            return ChosenAlgorithm("identity", self.settings.types) if "identity" in self.settings.algorithms \
                else None
        if self.settings.offload:
            request.headers.remove("accept-encoding")
        return ChosenAlgorithm(best[1], self.settings.types)
