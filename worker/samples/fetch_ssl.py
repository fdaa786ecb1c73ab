"""SSL/TLS fetches (HAProxy 7.3.4) and the ClientHello fetches of TCP passthrough (7.3.5).

``ssl_fc*``/``ssl_c*``/``ssl_f*`` read the client connection, ``ssl_bc*``/
``ssl_s*`` the server connection, when they are TLS sockets
(``worker.tls.tlssocket.TlsSocket``); otherwise they give no sample, or
false for the booleans, as HAProxy does.  ``req.ssl_*`` parse the buffered
ClientHello.  What Python's ssl module does not expose is listed in the README.
"""

from __future__ import annotations

import _ssl
import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..tls import certs, openssl
from ..tls.tlssocket import TlsSocket
from . import fetch_tls_capture
from .args import ArgType, arg_spec
from .context import SampleContext
from .registry import FetchDef, fetch
from .types import Sample, SampleType

if TYPE_CHECKING:
    from cryptography import x509

T = SampleType
A = ArgType
S = "l5"
_SIG_NAMES = {"sha256WithRSAEncryption": "RSA-SHA256", "sha384WithRSAEncryption": "RSA-SHA384",
              "sha512WithRSAEncryption": "RSA-SHA512", "sha1WithRSAEncryption": "RSA-SHA1"}
_KEY_NAMES = {"rsa": "rsaEncryption", "ecdsa": "id-ecPublicKey", "dsa": "dsaEncryption"}


def front(ctx: SampleContext) -> TlsSocket | None:
    client = getattr(ctx, "client", None)
    return client if isinstance(client, TlsSocket) else None


def back(ctx: SampleContext) -> TlsSocket | None:
    conn = getattr(ctx, "server_conn", None)
    return conn if isinstance(conn, TlsSocket) else None


def front_version(ctx: SampleContext) -> str | None:
    """``%sslv``: the client connection's protocol version, also after a handshake that failed."""
    tls = front(ctx)
    if tls is None:
        return None
    try:
        return tls.version() or openssl.protocol_version(tls)
    except (OSError, ValueError):
        return None


def front_cipher(ctx: SampleContext) -> str | None:
    """``%sslc``: the client connection's cipher, ``(NONE)`` when none was agreed yet (as OpenSSL names it)."""
    tls = front(ctx)
    if tls is None:
        return None
    try:
        info = tls.cipher()
    except (OSError, ValueError):
        info = None
    return info[0] if info else "(NONE)"


def peer_cert(tls: TlsSocket | None) -> x509.Certificate | None:
    if tls is None:
        return None
    if tls.peer_x509 is None:
        try:
            der = tls.getpeercert(binary_form=True)
        except (OSError, ValueError):
            der = None
        if der:
            from cryptography import x509  # imported here: cryptography is big, most workers never use it

            tls.peer_x509 = x509.load_der_x509_certificate(der)
        else:
            tls.peer_x509 = False
    return tls.peer_x509 or None


def peer_chain_der(tls: TlsSocket | None, drop_leaf: bool) -> Sample | None:
    """The chain the peer sent, in DER, concatenated (HAProxy leaves the client's own certificate out)."""
    sslobj = getattr(tls, "_sslobj", None)
    get_chain = getattr(sslobj, "get_unverified_chain", None)
    if get_chain is None:
        return None
    chain = get_chain() or []
    if drop_leaf:
        chain = chain[1:]
    return Sample(T.BIN, b"".join(c.public_bytes(_ssl.ENCODING_DER) for c in chain)) if chain else None


def local_cert(tls: TlsSocket | None) -> x509.Certificate | None:
    return tls.local_cert.cert if tls is not None and tls.local_cert is not None else None


Side = Callable[[SampleContext], TlsSocket | None]
CertOf = Callable[[SampleContext], "x509.Certificate | None"]


def _str(value: str | None) -> Sample | None:
    return None if value is None else Sample(T.STR, value)


def _conn_fetches(prefix: str, side: Side, where: str) -> list[FetchDef]:
    """The connection-level fetches shared by the front (``ssl_fc``) and back (``ssl_bc``) sides."""

    def on(fn: Callable[[TlsSocket], Sample | None]) -> Callable[[SampleContext, Sequence[Any]], Sample | None]:
        def get(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
            tls = side(ctx)
            return None if tls is None else fn(tls)

        return get

    def cipher(tls: TlsSocket, index: int) -> Any:
        info = tls.cipher()
        return info[index] if info else None

    def keysize(tls: TlsSocket) -> Sample | None:
        bits = cipher(tls, 2)
        return None if bits is None else Sample(T.SINT, bits)

    def unique_id(tls: TlsSocket) -> Sample | None:
        try:
            value = tls.get_channel_binding("tls-unique")
        except (OSError, ValueError):
            return None
        return None if value is None else Sample(T.BIN, value)

    def session_id(tls: TlsSocket) -> Sample | None:
        session = tls.session
        return None if session is None else Sample(T.BIN, session.id)

    def secret(which: str) -> Callable[[TlsSocket], Sample | None]:
        def get(tls: TlsSocket) -> Sample | None:
            value = openssl.handshake_secret(tls, which)
            return None if value is None else Sample(T.BIN, value)

        return get

    return [
        fetch(prefix, lambda ctx, args: Sample(T.BOOL, side(ctx) is not None), T.BOOL,
              f"True when the {where} connection uses SSL/TLS.", section=S),
        fetch(f"{prefix}_alg_keysize", on(keysize), T.SINT, "Symmetric cipher key size, in bits.", section=S),
        fetch(f"{prefix}_alpn", on(lambda t: _str(t.selected_alpn_protocol())), T.STR,
              "Protocol negotiated with ALPN.", section=S),
        fetch(f"{prefix}_cipher", on(lambda t: _str(cipher(t, 0))), T.STR, "Cipher name.", section=S),
        fetch(f"{prefix}_is_resumed", on(lambda t: Sample(T.BOOL, bool(t.session_reused))), T.BOOL,
              "True when the TLS session was resumed.", section=S),
        fetch(f"{prefix}_protocol", on(lambda t: _str(t.version())), T.STR, "Protocol version (TLSv1.3…).",
              section=S),
        fetch(f"{prefix}_session_id", on(session_id), T.BIN, "TLS session id.", section=S),
        fetch(f"{prefix}_client_random", on(secret("client_random")), T.BIN, "The handshake's client random.",
              section=S),
        fetch(f"{prefix}_server_random", on(secret("server_random")), T.BIN, "The handshake's server random.",
              section=S),
        fetch(f"{prefix}_session_key", on(secret("session_key")), T.BIN, "The TLS session's master key.",
              section=S),
        fetch(f"{prefix}_unique_id", on(unique_id), T.BIN, "TLS unique id: the first Finished message (tls-unique).",
              section=S),
        fetch(f"{prefix}_use_keysize", on(keysize), T.SINT, "Symmetric cipher key size used, in bits.",
              section=S),
    ]


def _dn(which: str) -> Callable[[x509.Certificate, Sequence[Any]], Sample | None]:
    def get(cert: x509.Certificate, args: Sequence[Any]) -> Sample | None:
        name = cert.subject if which == "s" else cert.issuer
        entry = args[0] if args else None
        if entry:
            value = certs.dn_entry(name, entry, args[1] if len(args) > 1 and args[1] is not None else 1)
            return _str(value)
        if len(args) > 2 and args[2] == "rfc2253":
            return Sample(T.STR, name.rfc4514_string())
        return Sample(T.STR, certs.dn_text(name))

    return get


def _cert_fetches(prefix: str, cert_of: CertOf, what: str) -> list[FetchDef]:
    """The certificate fields shared by ``ssl_c`` (client's), ``ssl_f`` (ours) and ``ssl_s`` (server's)."""

    def on(fn: Callable[[x509.Certificate, Sequence[Any]], Sample | None]) -> Any:
        def get(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
            cert = cert_of(ctx)
            return None if cert is None else fn(cert, args)

        return get

    dn_args = arg_spec(A.STR, A.SINT, A.STR, required=0)
    return [
        fetch(f"{prefix}_der", on(lambda c, a: Sample(T.BIN, certs.der(c))), T.BIN, f"{what} in DER.", section=S),
        fetch(f"{prefix}_i_dn", on(_dn("i")), T.STR, f"Issuer DN of {what} (or one entry).", dn_args, section=S),
        fetch(f"{prefix}_key_alg", on(lambda c, a: _str(_key_name(c))), T.STR,
              f"Public key algorithm of {what}.", section=S),
        fetch(f"{prefix}_notafter", on(lambda c, a: Sample(T.STR, certs.utctime(certs.not_after(c)))), T.STR,
              f"End date of {what}, YYMMDDhhmmssZ.", section=S),
        fetch(f"{prefix}_notbefore", on(lambda c, a: Sample(T.STR, certs.utctime(certs.not_before(c)))), T.STR,
              f"Start date of {what}, YYMMDDhhmmssZ.", section=S),
        fetch(f"{prefix}_s_dn", on(_dn("s")), T.STR, f"Subject DN of {what} (or one entry).", dn_args, section=S),
        fetch(f"{prefix}_serial", on(lambda c, a: Sample(T.BIN, certs.serial_bytes(c))), T.BIN,
              f"Serial of {what}.", section=S),
        fetch(f"{prefix}_sha1", on(lambda c, a: Sample(T.BIN, hashlib.sha1(certs.der(c)).digest())), T.BIN,
              f"SHA-1 of {what} in DER.", section=S),
        fetch(f"{prefix}_sig_alg", on(lambda c, a: _str(_sig_name(c))), T.STR,
              f"Signature algorithm of {what}.", section=S),
        fetch(f"{prefix}_version", on(lambda c, a: Sample(T.SINT, c.version.value + 1)), T.SINT,
              f"X.509 version of {what}.", section=S),
    ]


def _key_name(cert: x509.Certificate) -> str:
    """OpenSSL's short name of the key's algorithm (``rsaEncryption``, ``id-ecPublicKey``, ``ED25519``…)."""
    key = cert.public_key()
    kind = certs.key_algorithm(key)[0]
    if kind == "eddsa":
        from cryptography.hazmat.primitives.asymmetric import ed25519

        return "ED25519" if isinstance(key, ed25519.Ed25519PublicKey) else "ED448"
    return _KEY_NAMES.get(kind, kind)


def _sig_name(cert: x509.Certificate) -> str:
    name = cert.signature_algorithm_oid._name
    return _SIG_NAMES.get(name, name)


def _front_bool(fn: Callable[[TlsSocket], bool]) -> Callable[[SampleContext, Sequence[Any]], Sample]:
    def get(ctx: SampleContext, args: Sequence[Any]) -> Sample:
        tls = front(ctx)
        return Sample(T.BOOL, tls is not None and fn(tls))

    return get


def _verify_field(index: int) -> Callable[[SampleContext, Sequence[Any]], Sample | None]:
    """One of the client certificate's verification results (0: OK), kept by the handshake: the verify
    result, the first CA error, its depth, the certificate's own error."""

    def get(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        tls = front(ctx)
        if tls is None:
            return None
        return Sample(T.SINT, tls.verify[index] if tls.verify is not None else 0)

    return get


FETCHES = (
    *_conn_fetches("ssl_fc", front, "client"),
    *_conn_fetches("ssl_bc", back, "server"),
    fetch("ssl_fc_has_crt", _front_bool(lambda t: peer_cert(t) is not None), T.BOOL,
          "True when the client presented a certificate.", section=S),
    fetch("ssl_fc_has_sni", _front_bool(lambda t: bool(t.sni)), T.BOOL, "True when the client sent SNI.", section=S),
    fetch("ssl_fc_sni", lambda ctx, args: _str(t.sni) if (t := front(ctx)) is not None else None, T.STR,
          "Server name the client asked for (SNI).", section=S),
    fetch("ssl_c_used", _front_bool(lambda t: peer_cert(t) is not None), T.BOOL,
          "True when the client used a certificate.", section=S),
    fetch("ssl_c_verify", _verify_field(0), T.SINT, "Verify result of the client certificate (0: OK).",
          section=S),
    fetch("ssl_c_err", _verify_field(3), T.SINT, "Error of the client certificate itself (0: none).", section=S),
    fetch("ssl_c_ca_err", _verify_field(1), T.SINT, "First error in the client's CA chain (0: none).", section=S),
    fetch("ssl_c_ca_err_depth", _verify_field(2), T.SINT, "Depth of that error (0: none).", section=S),
    *_cert_fetches("ssl_c", lambda ctx: peer_cert(front(ctx)), "the client's certificate"),
    fetch("ssl_c_chain_der", lambda ctx, args: peer_chain_der(front(ctx), True), T.BIN,
          "The chain the client sent after its certificate, in DER.", section=S),
    fetch("ssl_s_chain_der", lambda ctx, args: peer_chain_der(back(ctx), False), T.BIN,
          "The chain the server sent, its certificate first, in DER.", section=S),
    *_cert_fetches("ssl_f", lambda ctx: local_cert(front(ctx)), "the certificate this frontend presented"),
    *_cert_fetches("ssl_s", lambda ctx: peer_cert(back(ctx)), "the server's certificate"),
    *fetch_tls_capture.FETCHES,
)
