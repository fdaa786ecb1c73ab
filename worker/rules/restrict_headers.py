"""``option http-restrict-req-hdr-names delete|reject``: request header names other than letters,
digits and dashes (``X-my_hdr``) are removed, or the request is denied with a 403, as HAProxy 2.6
does on the backend before the request leaves."""

from __future__ import annotations

import re
from typing import Any

from ..http.pages import Reply
from .verdict import ACCEPT, REJECT, Verdict

_CLEAN_NAME = re.compile(r"[A-Za-z0-9-]+")


def restrict_header_names(txn: Any, backend: Any) -> Verdict:
    policy = backend.options.get("http-restrict-req-hdr-names")
    if policy not in ("delete", "reject"):
        return ACCEPT
    fields = txn.request.headers.fields
    clean = [(name, value) for name, value in fields if _CLEAN_NAME.fullmatch(name)]
    if len(clean) == len(fields):
        return ACCEPT
    if policy == "reject":
        txn.reply = Reply(403, errorfile=True)
        return REJECT
    fields[:] = clean
    return ACCEPT
