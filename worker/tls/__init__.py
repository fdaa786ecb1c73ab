"""TLS on Python's ssl module (OpenSSL) through gevent: certificates, contexts, handshakes, ClientHello parsing.

Nothing here writes cryptography by hand: certificates are parsed with the
``cryptography`` package and every handshake is OpenSSL's.
"""

from .certs import CertError, Certificate, load_ca_file, load_certificate, name_matches, parse_certificate
from .clienthello import ClientHello, parse_client_hello
from .options import TlsError, TlsOptions

__all__ = [
    "CertError",
    "Certificate",
    "ClientHello",
    "TlsError",
    "TlsOptions",
    "load_ca_file",
    "load_certificate",
    "name_matches",
    "parse_certificate",
    "parse_client_hello",
]
