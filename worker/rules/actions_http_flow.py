"""HTTP actions that change the transaction's course rather than its message.

``reject`` (close without an answer), ``auth`` (HAProxy's 401/407 page with a
Basic challenge), ``redirect`` on responses, and ``normalize-uri``.  They are
merged into the ``http-request``/``http-response`` keyword tables of
``actions_http``; the stream needs no knowledge of them beyond ``txn.reply``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..http.pages import Reply
from .errors import RuleError
from .normalize_uri import NORMALIZERS, InvalidUri, parse_normalizer
from .verdict import CONTINUE, DONE, REJECT, Verdict

Action = Callable[[Any], Verdict]

SILENT_CLOSE = Reply(0, raw=b"", close=True)
"""What ``reject`` answers: nothing at all, the connection is closed (HAProxy logs no status)."""


def reject(kind: str, args: tuple[str, ...], env: Any) -> Action:
    """``http-request reject``: close the client connection at once, without a response."""
    if args:
        raise RuleError("'reject' expects no argument.")

    def act(txn: Any) -> Verdict:
        txn.reply = SILENT_CLOSE
        return REJECT

    return act


def auth(kind: str, args: tuple[str, ...], env: Any) -> Action:
    """``http-request auth [realm R]``: the proxy's 401 page plus ``WWW-Authenticate: Basic realm="R"``
    (the realm defaults to the proxy's name, as in HAProxy)."""
    if args and (args[0] != "realm" or len(args) != 2):
        raise RuleError("'auth' expects nothing or 'realm <realm>'.")
    realm = args[1] if args else getattr(env, "own_table", "")

    def act(txn: Any) -> Verdict:
        page = txn.frontend.error_pages.reply(401, txn)
        if page.raw is None:
            page = Reply(401, [*page.headers, ("www-authenticate", f'Basic realm="{realm}"')], page.body,
                         page.close, reason=page.reason)
        txn.reply = page
        return DONE

    return act


def normalize_uri(kind: str, args: tuple[str, ...], env: Any) -> Action:
    """``http-request normalize-uri <normalizer> [option]``: rewrite the request's URI in place."""
    if not args or args[0] not in NORMALIZERS:
        raise RuleError("'normalize-uri' expects a normalizer.", f"Known normalizers: {', '.join(NORMALIZERS)}.")
    normalize = parse_normalizer(args[0], args[1:])

    def act(txn: Any) -> Verdict:
        request = txn.request
        target = request.target
        if not target.startswith("/"):
            return CONTINUE
        try:
            changed = normalize(target)
        except InvalidUri:
            txn.reply = Reply(400, errorfile=True)
            return DONE
        if changed != target:
            request.set_uri(changed)
        return CONTINUE

    return act


REQUEST = {"reject": reject, "auth": auth, "normalize-uri": normalize_uri}
