"""Why a handshake failed, in haproxy's terms: the connection error (``fc_err``/``fc_err_str``) and
OpenSSL's error (``ssl_fc_err``: its reason code; ``ssl_fc_err_str``: OpenSSL's error string).

Python's ssl module gives the library and reason names; its ``_ssl`` table
of OpenSSL's codes gives the numbers, and the string is written as OpenSSL 3
writes it (``error:0A000086:SSL routines::certificate verify failed``).
"""

from __future__ import annotations

import _ssl
import re
import socket
import ssl
from dataclasses import dataclass

SSL_EMPTY, SSL_TIMEOUT, SSL_CA_FAIL, SSL_CRT_FAIL, SSL_MISMATCH_SNI, SSL_HANDSHAKE = 24, 26, 30, 31, 33, 34
CONN_ERRORS = {0: "Success", SSL_EMPTY: "Connection closed during SSL handshake",
               SSL_TIMEOUT: "Timeout during SSL handshake",
               SSL_CA_FAIL: "SSL client CA chain cannot be verified",
               SSL_CRT_FAIL: "SSL client certificate not trusted",
               SSL_MISMATCH_SNI: "Server presented an SSL certificate different from the expected one",
               SSL_HANDSHAKE: "SSL handshake failure"}
X509_V_ERR_HOSTNAME_MISMATCH = 62
_MESSAGE = re.compile(r"^\[[^\]]*\] (.*?)(?: \(_ssl\.c:\d+\))?$")


class HostMismatch(ssl.SSLCertVerificationError):
    """The server's certificate is valid but not for the name ``verifyhost`` asks for."""


@dataclass(frozen=True, slots=True)
class HandshakeError:
    """What ``fc_err*`` and ``ssl_fc_err*`` read on a connection whose handshake failed."""

    code: int
    ssl_code: int | None = None
    ssl_text: str | None = None

    @property
    def text(self) -> str:
        return CONN_ERRORS.get(self.code, "SSL handshake failure")


def classify(exc: BaseException, verify: tuple[int, int, int, int] | None = None) -> HandshakeError:
    """The HandshakeError of an exception raised by a handshake (*verify*: the client certificate's
    verification result, when one was checked)."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return HandshakeError(SSL_TIMEOUT)
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError | BrokenPipeError | ConnectionResetError) or (
            isinstance(exc, ssl.SSLError) and "EOF" in str(exc)):
        return HandshakeError(SSL_EMPTY)
    code = SSL_HANDSHAKE
    if isinstance(exc, HostMismatch) or getattr(exc, "verify_code", None) == X509_V_ERR_HOSTNAME_MISMATCH:
        return _openssl_error(SSL_MISMATCH_SNI, "SSL", "CERTIFICATE_VERIFY_FAILED", "certificate verify failed")
    if verify is not None and verify[0]:
        code = SSL_CA_FAIL if verify[1] else SSL_CRT_FAIL
    if not isinstance(exc, ssl.SSLError):
        return HandshakeError(code)
    library, reason = getattr(exc, "library", None) or "SSL", getattr(exc, "reason", None)
    match = _MESSAGE.match(str(exc.args[1] if len(exc.args) > 1 else exc))
    text = match.group(1) if match else (reason or "").lower().replace("_", " ")
    if isinstance(exc, ssl.SSLCertVerificationError):
        text = text.partition(": ")[0]  # Python adds the verification's reason, OpenSSL's string does not
    return _openssl_error(code, library, reason, text)


def _openssl_error(code: int, library: str, reason: str | None, text: str) -> HandshakeError:
    """OpenSSL's reason number and its error string, as ``ERR_error_string`` writes them (OpenSSL 3)."""
    codes = _ssl.err_names_to_codes.get(reason or "")
    if codes is None:
        return HandshakeError(code, None, text)
    packed = (codes[0] << 23) | codes[1]
    return HandshakeError(code, codes[1], f"error:{packed:08X}:{library} routines::{text}")
