"""The h2 library's configuration for both sides."""

from __future__ import annotations

import hpack
from h2.config import H2Configuration


def h2_config(client_side: bool) -> H2Configuration:
    """Bytes in and out; the checks HTTP/2 asks of messages are ours (convert), made as HAProxy makes them."""
    return H2Configuration(client_side=client_side, header_encoding=None, validate_inbound_headers=False,
                           normalize_inbound_headers=False, validate_outbound_headers=False,
                           normalize_outbound_headers=False)


class Encoder(hpack.Encoder):
    """hpack's encoder, but an empty value is written as a plain string: some decoders (varnishtest's)
    refuse an empty Huffman string, and haproxy never sends one."""

    def _encode_literal(self, name: bytes, value: bytes, indexbit: bytes, huffman: bool = False) -> bytes:
        return super()._encode_literal(name, value, indexbit, huffman and bool(value))

    def _encode_indexed_literal(self, index: int, value: bytes, indexbit: bytes, huffman: bool = False) -> bytes:
        return super()._encode_indexed_literal(index, value, indexbit, huffman and bool(value))
