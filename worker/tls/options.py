"""TLS settings of a ``bind`` or ``server`` line, a crt-list line or a ``ssl-default-*-options`` line.

One parser reads the words of all of them; each keyword is declared once,
with whether it takes a value and where it is allowed.  Values are kept as
written and turned into OpenSSL settings by ``contexts``.
"""

from __future__ import annotations

import shlex
import ssl
from dataclasses import dataclass, field

BIND, SERVER, CRT_LIST, DEFAULT = "bind", "server", "crt-list", "default"

# keyword -> (takes a value, where it is allowed)
KEYWORDS: dict[str, tuple[bool, tuple[str, ...]]] = {
    "ssl": (False, (BIND, SERVER)),
    "crt": (True, (BIND, SERVER)),
    "crt-list": (True, (BIND,)),
    "ca-file": (True, (BIND, SERVER, CRT_LIST)),
    "crl-file": (True, (BIND, SERVER, CRT_LIST)),
    "verify": (True, (BIND, SERVER, CRT_LIST)),
    "alpn": (True, (BIND, SERVER, CRT_LIST)),
    "npn": (True, (BIND, SERVER, CRT_LIST)),
    "ciphers": (True, (BIND, SERVER, CRT_LIST)),
    "ciphersuites": (True, (BIND, SERVER, CRT_LIST)),
    "curves": (True, (BIND, SERVER, CRT_LIST)),
    "ecdhe": (True, (BIND, CRT_LIST)),
    "sigalgs": (True, (BIND, SERVER, CRT_LIST)),
    "client-sigalgs": (True, (BIND, SERVER, CRT_LIST)),
    "ssl-min-ver": (True, (BIND, SERVER, CRT_LIST, DEFAULT)),
    "ssl-max-ver": (True, (BIND, SERVER, CRT_LIST, DEFAULT)),
    "ca-ignore-err": (True, (BIND,)),
    "crt-ignore-err": (True, (BIND,)),
    "ca-verify-file": (True, (BIND, CRT_LIST)),
    "tls-ticket-keys": (True, (BIND,)),
    "strict-sni": (False, (BIND,)),
    "generate-certificates": (False, (BIND,)),
    "ca-sign-file": (True, (BIND,)),
    "ca-sign-pass": (True, (BIND,)),
    "prefer-client-ciphers": (False, (BIND, DEFAULT)),
    "no-ca-names": (False, (BIND, CRT_LIST)),
    "allow-0rtt": (False, (BIND, SERVER, CRT_LIST)),
    "no-tls-tickets": (False, (BIND, SERVER, DEFAULT)),
    "tls-tickets": (False, (SERVER,)),
    "sni": (True, (SERVER,)),
    "verifyhost": (True, (SERVER,)),
    "check-sni": (True, (SERVER,)),
    "check-alpn": (True, (SERVER,)),
    "check-ssl": (False, (SERVER,)),
    "no-check-ssl": (False, (SERVER,)),
    "no-ssl": (False, (SERVER,)),
    "no-ssl-reuse": (False, (SERVER,)),
    "ssl-reuse": (False, (SERVER,)),
}
VERSIONS = {"SSLv3": ssl.TLSVersion.SSLv3, "TLSv1.0": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
            "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_ORDER = list(VERSIONS)
for _v in ("sslv3", "tlsv10", "tlsv11", "tlsv12", "tlsv13"):
    KEYWORDS[f"no-{_v}"] = (False, (BIND, SERVER, DEFAULT))
    KEYWORDS[f"force-{_v}"] = (False, (BIND, SERVER, DEFAULT))
_FLAG_VERSION = {"sslv3": "SSLv3", "tlsv10": "TLSv1.0", "tlsv11": "TLSv1.1", "tlsv12": "TLSv1.2",
                 "tlsv13": "TLSv1.3"}
VERIFY = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
IGNORED = ("npn", "sigalgs", "client-sigalgs",
           "tls-ticket-keys", "no-ca-names", "allow-0rtt")
"""Accepted for compatibility; Python's ssl module has no way to apply them (see the README)."""


class TlsError(ValueError):
    """A TLS setting that cannot be used; the message is worded for a config error."""


def is_keyword(word: str, where: str) -> bool:
    spec = KEYWORDS.get(word)
    return spec is not None and where in spec[1]


@dataclass(slots=True)
class TlsOptions:
    """Values (``crt`` may repeat) and flags, in the order written."""

    values: dict[str, list[str]] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    def take(self, word: str, rest: list[str], where: str) -> bool:
        """Consume *word* (and its value from *rest*) if it is a TLS keyword of *where*."""
        if not is_keyword(word, where):
            return False
        takes_value, _ = KEYWORDS[word]
        if takes_value:
            if not rest:
                raise TlsError(f"'{word}' : missing value.")
            self.values.setdefault(word, []).append(rest.pop(0))
        else:
            self.flags.add(word)
        return True

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.values.get(name)
        return values[-1] if values else default

    def merged(self, defaults: TlsOptions) -> TlsOptions:
        """These options over *defaults* (global ``ssl-default-*`` or the bind line under a crt-list line)."""
        values = {k: list(v) for k, v in defaults.values.items()}
        values.update({k: list(v) for k, v in self.values.items()})
        return TlsOptions(values, defaults.flags | self.flags)

    @property
    def enabled(self) -> bool:
        return "ssl" in self.flags

    def verify(self, default: str) -> ssl.VerifyMode:
        mode = self.get("verify", default) or default
        if mode not in VERIFY:
            raise TlsError(f"'verify' : unknown verify method '{mode}', expected none, optional or required.")
        return VERIFY[mode]

    def version_range(self) -> tuple[ssl.TLSVersion | None, ssl.TLSVersion | None]:
        """(minimum, maximum): ssl-min-ver/ssl-max-ver, force-*, then the no-* holes at the ends."""
        low, high = self.get("ssl-min-ver"), self.get("ssl-max-ver")
        for name in (low, high):
            if name is not None and name not in VERSIONS:
                raise TlsError(f"unknown SSL/TLS version '{name}', expected one of {', '.join(VERSIONS)}.")
        forced = [_FLAG_VERSION[f[6:]] for f in self.flags if f.startswith("force-")]
        if forced:
            low = high = max(forced, key=_ORDER.index)
        disabled = {_FLAG_VERSION[f[3:]] for f in self.flags if f.startswith("no-") and f[3:] in _FLAG_VERSION}
        first = _ORDER.index(low) if low else 0
        last = _ORDER.index(high) if high else len(_ORDER) - 1
        while first <= last and _ORDER[first] in disabled:
            first += 1
        while last >= first and _ORDER[last] in disabled:
            last -= 1
        if first > last:
            raise TlsError("all SSL/TLS versions are disabled.")
        return (VERSIONS[_ORDER[first]] if low or disabled else None,
                VERSIONS[_ORDER[last]] if high or disabled else None)

    def alpn(self) -> list[str]:
        text = self.get("alpn")
        return [p for p in text.split(",") if p] if text else []

    def ignored(self) -> list[str]:
        return [k for k in IGNORED if k in self.values or k in self.flags]


@dataclass(frozen=True, slots=True)
class CrtListLine:
    """One crt-list line: ``CERT [options…] [!]filter…``, kept as written for ``show ssl crt-list``."""

    crt: str
    words: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()

    def options(self) -> TlsOptions:
        """The line's own options (TlsError on one a crt-list line may not have)."""
        options = TlsOptions()
        words = list(self.words)
        while words:
            word = words.pop(0)
            if not options.take(word, words, CRT_LIST):
                raise TlsError(f"unknown option '{word}' in '[{' '.join(self.words)}]'.")
        return options

    def text(self) -> str:
        parts = [self.crt]
        if self.words:
            parts.append(f"[{' '.join(self.words)}]")
        return " ".join(parts + list(self.filters))


def parse_crt_list_line(text: str) -> CrtListLine:
    """``CERT [opt …] filter …`` (ValueError on unbalanced quotes or brackets)."""
    words = shlex.split(text)
    if not words:
        raise ValueError("empty crt-list line")
    crt, rest = words[0], words[1:]
    if rest and rest[0].startswith("["):
        inner = " ".join(rest)[1:]
        inside, found, after = inner.partition("]")
        if not found:
            raise ValueError(f"missing ']' in crt-list line '{text}'")
        return CrtListLine(crt, tuple(inside.split()), tuple(after.split()))
    return CrtListLine(crt, (), tuple(rest))
