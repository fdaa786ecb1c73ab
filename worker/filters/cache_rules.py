"""``http-request cache-use NAME`` and ``http-response cache-store NAME``: what may be served, what stored.

A request may be served from the cache when it is a GET or HEAD without
``Cache-Control: no-cache`` (or ``Pragma: no-cache``) nor ``Authorization``; a
hit is answered like a service (``<CACHE>``), the response rules run on it,
and ``If-None-Match``/``If-Modified-Since`` get a 304.  A response is stored
when it is a 200 to a GET, not private, no-store, no-cache nor setting a
cookie, has an explicit lifetime (``s-maxage``, ``max-age``, ``Expires``) or a
validator (``ETag``, ``Last-Modified``), a valid ``Age`` below that lifetime,
and, with Vary, varies only on what ``process-vary on`` handles.  Its lifetime
is capped by the cache's ``max-age``.  A successful unsafe request (POST...)
drops the entry of its URI.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from ..http.message import Headers, RequestHead, ResponseHead
from ..rules.errors import RuleError
from ..rules.verdict import Verdict
from . import chain
from .cache import Cache, Entry
from .vary import entry_key, vary_names

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


def primary_key(request: RequestHead) -> str:
    """The entry's URI: host and path with query (an absolute target gives both)."""
    target = request.target
    if "://" in target:
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        host, target = (rest[:slash], rest[slash:]) if slash >= 0 else (rest, "/")
    else:
        hosts = request.headers.get_all("host")
        host = hosts[0] if hosts else ""
    return f"{host.lower()}{target}"


def _directives(headers: Headers) -> dict[str, str]:
    """Cache-Control directives, lower-case names, values unquoted."""
    found: dict[str, str] = {}
    for value in headers.get_values("cache-control"):
        name, _, arg = value.partition("=")
        found[name.strip().lower()] = arg.strip().strip('"')
    return found


def _seconds(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _http_date(text: str) -> float | None:
    from email.utils import parsedate_to_datetime  # here: the email package costs ~1 MB (see action())

    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def may_serve(request: RequestHead) -> bool:
    if request.method not in ("GET", "HEAD") or request.headers.contains("authorization"):
        return False
    directives = _directives(request.headers)
    if "no-cache" in directives or directives.get("max-age") == "0":
        return False
    if directives:
        return True
    return "no-cache" not in [v.lower() for v in request.headers.get_values("pragma")]


def lifetime(cache: Cache, response: ResponseHead, now: float) -> float | None:
    """Seconds the response stays fresh from now, or None when it must not be stored."""
    directives = _directives(response.headers)
    if {"private", "no-store", "no-cache"} & directives.keys() or response.headers.contains("set-cookie"):
        return None
    explicit: float | None = None
    for name in ("s-maxage", "max-age"):
        if name in directives:
            explicit = _seconds(directives[name])
            if explicit is None:
                return None
            break
    else:
        expires = response.headers.get_all("expires")
        if expires:
            when = _http_date(expires[0])
            explicit = when - now if when is not None else 0
    if explicit is None and not (response.headers.contains("etag") or response.headers.contains("last-modified")):
        return None
    fresh = explicit if explicit is not None else cache.settings.max_age
    ages = response.headers.get_all("age")
    if ages:
        age = _seconds(ages[0].strip())
        if age is None:
            return None
        fresh -= age
    return min(fresh, cache.settings.max_age) if fresh > 0 else None


class CacheWriter:
    """Collects a response body for the cache, and gives up past max-object-size."""

    __slots__ = ("body", "cache", "entry", "key")

    def __init__(self, cache: Cache, key: str, entry: Entry) -> None:
        self.cache = cache
        self.key = key
        self.entry: Entry | None = entry
        self.body = bytearray()

    def data(self, data: bytes) -> bytes:
        if self.entry is not None:
            self.body += data
            if len(self.body) > self.cache.settings.max_object_size:
                self.entry = None
                self.body = bytearray()
        return data

    def end(self) -> bytes:
        if self.entry is not None:
            self.entry.body = bytes(self.body)
            self.cache.store(self.key, self.entry)
        return b""


def store(cache: Cache, txn: Any) -> None:
    """cache-store: start writing the response into *cache*, if it may be stored."""
    request, response = txn.request, txn.response
    state = chain.of(txn)
    if state.cache_hit:
        return
    if request.method not in SAFE_METHODS:
        if response.status < 400:
            cache.invalidate(primary_key(request))
        return
    if request.method != "GET" or response.status != 200 or request.headers.contains("authorization") \
            or "no-store" in _directives(request.headers):
        return
    lengths = response.headers.get_all("content-length")
    if lengths and lengths[0].strip().isdigit() and int(lengths[0]) > cache.settings.max_object_size:
        return
    now = time.time()
    fresh = lifetime(cache, response, now)
    if fresh is None:
        return
    vary = None
    if response.headers.get_values("vary"):
        names = vary_names(response.headers) if cache.settings.process_vary else None
        if names is None:
            return
        vary = entry_key(names, request.headers, response.headers) if names else None
        if names and vary is None:
            return
    head = ResponseHead(response.status, response.reason, response.version, response.headers.copy())
    state.body.append(CacheWriter(cache, primary_key(request), Entry(head, b"", now, now + fresh, vary)))


def _not_modified(request: RequestHead, entry: Entry) -> bool:
    """The client's copy is still good (If-None-Match first, else If-Modified-Since)."""
    tags = request.headers.get_values("if-none-match")
    if tags:
        etags = entry.head.headers.get_all("etag")
        if not etags:
            return False
        mine = etags[0].strip().removeprefix("W/")
        return any(tag == "*" or tag.removeprefix("W/") == mine for tag in tags)
    since = request.headers.get_all("if-modified-since")
    if not since:
        return False
    when = _http_date(since[0])
    if when is None:
        return False
    reference = entry.head.headers.get_all("last-modified") or entry.head.headers.get_all("date")
    modified = _http_date(reference[0]) if reference else entry.created
    return modified is not None and modified <= when


def _serve(entry: Entry) -> Any:
    """The service answering a hit: the stored head (with Age) and body, or a 304."""
    def serve(txn: Any, io: Any) -> None:
        head = ResponseHead(entry.head.status, entry.head.reason, entry.head.version, entry.head.headers.copy())
        body = entry.body
        if _not_modified(txn.request, entry):
            head.status, head.reason, body = 304, "Not Modified", b""
            head.headers.remove("content-length")
            head.headers.remove("transfer-encoding")
        age = entry.age
        if age > 0:
            head.headers.set("age", str(age))
        io.send_head(head)
        if txn.request.method != "HEAD":
            io.send(body)

    return serve


def use(cache: Cache, txn: Any) -> Verdict:
    """cache-use: answer from *cache* when it holds a fresh entry for this request."""
    request = txn.request
    if not may_serve(request):
        return Verdict.CONTINUE
    entry = cache.lookup(primary_key(request), request.headers)
    if entry is None:
        return Verdict.CONTINUE
    state = chain.of(txn)
    state.cache_hit = True
    state.cache_name = cache.name
    txn.service = _serve(entry)
    txn.applet = "<CACHE>"
    return Verdict.DONE


def action(keyword: str) -> Any:
    """The rule parser of cache-use or cache-store."""
    run = use if keyword == "cache-use" else store

    def parse(kind: str, args: tuple[str, ...], env: Any) -> Any:
        if len(args) != 1:
            raise RuleError(f"'{keyword}' expects the name of a cache section.")
        cache = env.cache(args[0])
        if run is store:  # compiled in the master: the workers share what reading Expires needs
            importlib.import_module("email.utils")

        def act(txn: Any) -> Verdict:
            verdict = run(cache, txn)
            return verdict if verdict is not None else Verdict.CONTINUE

        return act

    return parse
