"""ACLs and conditions: ``acl NAME criterion [flags] [operator] value...`` and ``if``/``unless``.

A criterion is a sample expression, or an ACL keyword such as ``path_beg``
that implies a fetch and a match method.  Flags come before the values:
``-i`` (ignore case for what follows), ``-f FILE`` (patterns from a shared
file), ``-m METHOD``, ``-M`` (read -f files as maps), ``-n`` (no name
resolution), ``-u ID`` (the inline list's id) and ``--``.  Several ``acl``
lines with one name OR together.  A condition is a disjunction (``||`` or
``or``) of conjunctions of optionally negated (``!``) ACL names or anonymous
ACLs between braces; undefined names are errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .args import Origin, parse_sint
from .context import SampleContext
from .errors import SampleError, closest
from .expr import SampleExpr, parse_expr
from .library import PatternLibrary, PatternRef
from .patterns import METHODS_BY_NAME, Method, PatternError, PatternIndex
from .registry import BareFn, FetchFn, SampleRegistry
from .types import Sample, SampleType, cast

T = SampleType

_DEFAULT_METHODS = {
    T.BOOL: Method.BOOL,
    T.SINT: Method.INT,
    T.ADDR: Method.IP,
    T.IPV4: Method.IP,
    T.IPV6: Method.IP,
    T.STR: Method.STR,
    T.METH: Method.METH,
}
_SUFFIXES = {
    "": Method.STR,
    "_beg": Method.BEG,
    "_dir": Method.DIR,
    "_dom": Method.DOM,
    "_end": Method.END,
    "_len": Method.LEN,
    "_reg": Method.REG,
    "_sub": Method.SUB,
}
_DERIVED_BASES = {
    "base": "base",
    "cook": "req.cook",
    "hdr": "req.hdr",
    "path": "path",
    "req.cook": "req.cook",
    "req.hdr": "req.hdr",
    "res.cook": "res.cook",
    "res.hdr": "res.hdr",
    "scook": "res.cook",
    "shdr": "res.hdr",
    "url": "url",
    "urlp": "urlp",
}


def _acl_keywords() -> dict[str, tuple[str, Method]]:
    """ACL-only keywords: name -> (fetch, implied match method)."""
    table = {
        f"{base}{suffix}": (fetch, method)
        for base, fetch in _DERIVED_BASES.items()
        for suffix, method in _SUFFIXES.items()
    }
    table["hdr"] = ("hdr", Method.STR)
    table["method"] = ("method", Method.METH)
    return table


ACL_KEYWORDS = _acl_keywords()

PREDEFINED = {
    "FALSE": "always_false",
    "HTTP": "req.proto_http",
    "HTTP_1.0": "req.ver 1.0",
    "HTTP_1.1": "req.ver 1.1",
    "HTTP_2.0": "req.ver 2.0",
    "HTTP_CONTENT": "req.hdr_val(content-length) gt 0",
    "HTTP_URL_ABS": "url_reg ^[^/:]*://",
    "HTTP_URL_SLASH": "url_beg /",
    "HTTP_URL_STAR": "url *",
    "LOCALHOST": "src 127.0.0.1/8 ::1",
    "METH_CONNECT": "method CONNECT",
    "METH_DELETE": "method DELETE",
    "METH_GET": "method GET HEAD",
    "METH_HEAD": "method HEAD",
    "METH_OPTIONS": "method OPTIONS",
    "METH_POST": "method POST",
    "METH_PUT": "method PUT",
    "METH_TRACE": "method TRACE",
    "REQ_CONTENT": "req.len gt 0",
    "TRUE": "always_true",
    "WAIT_END": "wait_end",
}

_OPERATORS = ("eq", "ge", "gt", "le", "lt")
ANONYMOUS = "{anonymous}"
"""The name of a ``{ ... }`` ACL: one term, never more."""


@dataclass(slots=True)
class AclTerm:
    """One ``acl`` line: an expression, a match method, and the pattern lists to try."""

    expr: SampleExpr
    method: Method
    lists: list[tuple[PatternRef, PatternIndex]] = field(default_factory=list)
    input_type: SampleType = field(init=False)
    """The method's input type, looked up once (an Enum's hash is Python code, on every match)."""
    direct: FetchFn | None = field(init=False)
    """The fetch function when the expression is one fetch alone, single-valued and the same in both
    directions (``sc_http_req_rate(0) gt 10``): called without the expression's layers."""
    by_value: bool = field(init=False)
    """The method compares the value with the patterns (not FOUND nor BOOL)."""
    bare: BareFn | None = field(init=False)
    """The direct fetch's bare form when it gives the method's input type and the method compares
    values: the value is compared with the patterns without a Sample."""

    def __post_init__(self) -> None:
        self.input_type = self.method.input_type
        fetch = self.expr.fetch
        plain = fetch.multi is None and not self.expr.converters and self.expr.response_fetch is None
        self.direct = fetch.fn if plain else None
        self.by_value = self.method not in (Method.FOUND, Method.BOOL)
        self.bare = fetch.bare if plain and self.by_value and fetch.out is self.input_type else None

    def matches(self, ctx: SampleContext, res: bool = False) -> bool:
        bare = self.bare
        if bare is not None:  # the value itself (sc_http_req_rate(0) gt 10): no Sample, no casting
            value = bare(ctx, self.expr.args)
            if value is None:
                return False
        elif self.direct is not None:
            smp = self.direct(ctx, self.expr.args)
            if smp is None:
                return False
            if smp.type is not self.input_type or not self.by_value:
                return self._matches_one(smp, self.method)
            value = smp.value
        elif self.expr.fetch.multi is None:  # one value: no generator
            smp = self.expr.evaluate(ctx, res)
            return smp is not None and self._matches_one(smp, self.method)
        else:
            return any(self._matches_one(smp, self.method) for smp in self.expr.evaluate_all(ctx, res))
        for ref, index in self.lists:  # noqa: SIM110 (no generator on the per-request path)
            if index.lookup(value, ref.curr_ver) is not None:
                return True
        return False

    def _matches_one(self, smp: Sample, method: Method) -> bool:
        if method is Method.FOUND:
            return True
        typed = smp if smp.type is self.input_type else cast(smp, self.input_type)
        if typed is None:
            return False
        if method is Method.BOOL:
            return bool(typed.value)
        value = typed.value
        for ref, index in self.lists:  # noqa: SIM110 (no generator on the per-request path)
            if index.lookup(value, ref.curr_ver) is not None:
                return True
        return False


@dataclass(slots=True)
class Acl:
    """A named ACL: its lines OR together."""

    name: str
    terms: list[AclTerm] = field(default_factory=list)

    def matches(self, ctx: SampleContext, res: bool = False) -> bool:
        for term in self.terms:  # noqa: SIM110 (a loop costs less than any(genexpr), on every rule)
            if term.matches(ctx, res):
                return True
        return False


@dataclass(slots=True)
class Condition:
    """``if``/``unless`` over OR-ed suites of AND-ed, optionally negated ACLs."""

    suites: list[list[tuple[bool, Acl]]]
    unless: bool = False
    single: Acl | None = field(init=False)
    """The only ACL when the condition is one ACL, not negated (``if { sc_http_req_rate(0) gt 10 }``):
    matched without the suites' loops (an ACL, whose later lines of the same name add terms)."""

    term: AclTerm | None = field(init=False)
    """The single ACL's one term when that ACL is anonymous (``{ ... }``, whose terms never grow):
    matched without the ACL's loop."""

    def __post_init__(self) -> None:
        only = self.suites[0][0] if len(self.suites) == 1 and len(self.suites[0]) == 1 else None
        self.single = only[1] if only is not None and not only[0] else None
        single = self.single
        self.term = single.terms[0] if single is not None and single.name == ANONYMOUS else None

    def matches(self, ctx: SampleContext, res: bool = False) -> bool:
        if self.term is not None:
            return self.term.matches(ctx, res) != self.unless
        if self.single is not None:
            return self.single.matches(ctx, res) != self.unless
        for suite in self.suites:
            for negated, acl in suite:
                if acl.matches(ctx, res) == negated:
                    break
            else:
                return not self.unless
        return self.unless


class AclSet:
    """The ACLs of one proxy, with the registry and library used to build them."""

    def __init__(self, registry: SampleRegistry, library: PatternLibrary) -> None:
        self.registry = registry
        self.library = library
        self._acls: dict[str, Acl] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._acls

    def names(self) -> list[str]:
        return list(self._acls)

    def get(self, name: str, origin: Origin | None = None) -> Acl | None:
        """A declared ACL, or a predefined one (instantiated on first use, as HAProxy does)."""
        found = self._acls.get(name)
        if found is None and name in PREDEFINED:
            found = Acl(name, [self.parse_term(PREDEFINED[name].split(" "), origin)])
            self._acls[name] = found
        return found

    def add(self, words: Sequence[str], origin: Origin | None = None) -> Acl:
        """An ``acl`` line without the keyword: NAME criterion [flags] [values]."""
        if not words:
            raise SampleError("missing ACL name")
        name = words[0]
        if not name or any(not (c.isalnum() or c in "-_.:") for c in name):
            raise SampleError(f"invalid characters in ACL name '{name}'")
        try:
            term = self.parse_term(words[1:], origin)
        except SampleError as err:
            raise SampleError(f"error detected while parsing ACL '{name}' : {err.message}", err.hint) from None
        acl = self._acls.get(name)
        if acl is None or name in PREDEFINED:
            acl = self._acls[name] = Acl(name)
        acl.terms.append(term)
        return acl

    def parse_term(self, words: Sequence[str], origin: Origin | None = None) -> AclTerm:
        """criterion [flags] [operator] [values...] (an anonymous ACL's content)."""
        if not words:
            raise SampleError("missing fetch method")
        criterion = words[0]
        expr, implied = self._criterion(criterion, origin)
        method = implied
        icase = no_dns = as_map = False
        unique_id: int | None = None
        files: list[tuple[str, bool]] = []
        i = 1
        while i < len(words) and words[i].startswith("-"):
            flag = words[i]
            if flag == "--":
                i += 1
                break
            if flag == "-i":
                icase = True
            elif flag == "-n":
                no_dns = True
            elif flag == "-M":
                as_map = True
            elif flag in ("-f", "-m", "-u"):
                i += 1
                arg = words[i] if i < len(words) else ""
                if flag == "-f":
                    files.append((arg, icase))
                elif flag == "-m":
                    if files:
                        raise SampleError(
                            "'-m' must only be specified before patterns and files in parsing ACL expression."
                        )
                    found = METHODS_BY_NAME.get(arg)
                    if found is None or found is Method.METH:
                        raise SampleError(f"unknown matching method '{arg}' when parsing ACL expression.")
                    method = found
                elif (unique_id := parse_sint(arg)) is None:
                    raise SampleError(f"'-u' expects an integer, got '{arg}'.")
            else:
                raise SampleError(
                    f"'{flag}' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'."
                )
            i += 1
        if method is None:
            method = _DEFAULT_METHODS.get(expr.out_type)
            if method is None:
                raise SampleError(
                    "matching method must be specified first (using '-m') when using a sample fetch "
                    f"of this type ('{expr.fetch.name}')."
                )
        term = AclTerm(expr, method)
        if method in (Method.FOUND, Method.BOOL):
            return term
        for name, file_icase in files:  # files first: haproxy numbers their lists before the line's own
            ref = self.library.load_acl_file(name, origin, as_map)
            term.lists.append((ref, ref.index(method, file_icase, None, not no_dns)))
        inline = self.library.new_inline(criterion.split("(", 1)[0].split(",", 1)[0], origin, unique_id)
        values = _expand_operators(words[i:], method)
        index = inline.index(method, icase, None, not no_dns)
        for value in values:
            try:
                index.check(value)
            except PatternError as err:
                raise SampleError(f"{err}.") from None
            inline.add(value)
        term.lists.append((inline, index))
        return term

    def _criterion(self, text: str, origin: Origin | None) -> tuple[SampleExpr, Method | None]:
        """Parse a criterion, mapping ACL keywords to their fetch and implied method."""
        end = 0
        while end < len(text) and (text[end].isalnum() or text[end] in "._-+"):
            end += 1
        name = text[:end]
        keyword = ACL_KEYWORDS.get(name)
        implied = None
        if keyword is not None:
            fetch_name, implied = keyword
            text = fetch_name + text[end:]
        elif self.registry.get_fetch(name) is None:
            hint = closest(name, [*self.registry.fetch_names(), *ACL_KEYWORDS])
            raise SampleError(f"unknown fetch method '{name}' in ACL expression '{name}'", hint)
        expr = parse_expr(text, self.registry, self.library, origin=origin)
        if expr.converters:
            implied = None
        return expr, implied

    def parse_condition(self, words: Sequence[str], origin: Origin | None = None) -> Condition:
        return parse_condition(words, self, origin)


def _expand_operators(words: Sequence[str], method: Method) -> list[str]:
    """Turn 'lt 5'-style operators into ranges for int/len matching; other methods keep words."""
    if method not in (Method.INT, Method.LEN):
        return list(words)
    out: list[str] = []
    operator = "eq"
    for word in words:
        if word in _OPERATORS:
            operator = word
            continue
        number = parse_sint(word)
        if operator == "eq" or number is None:
            out.append(word)
        elif operator == "lt":
            out.append(f":{number - 1}")
        elif operator == "le":
            out.append(f":{number}")
        elif operator == "gt":
            out.append(f"{number + 1}:")
        else:
            out.append(f"{number}:")
    return out


def parse_condition(words: Sequence[str], acls: AclSet, origin: Origin | None = None) -> Condition:
    """``if|unless`` followed by ACL names, ``!``, ``||``/``or`` and ``{ anonymous ACLs }``."""
    if not words or words[0] not in ("if", "unless"):
        raise SampleError("a condition must start with 'if' or 'unless'")
    suites: list[list[tuple[bool, Acl]]] = [[]]
    i = 1
    negate = False
    while i < len(words):
        word = words[i]
        i += 1
        if word in ("||", "or"):
            suites.append([])
            negate = False
            continue
        while word.startswith("!"):
            negate = not negate
            word = word[1:]
        if not word:
            continue
        if word == "{":
            depth_end = i
            while depth_end < len(words) and words[depth_end] != "}":
                depth_end += 1
            if depth_end >= len(words):
                raise SampleError("missing closing '}' in condition.")
            acl = Acl(ANONYMOUS, [acls.parse_term(words[i:depth_end], origin)])
            i = depth_end + 1
        else:
            found = acls.get(word, origin)
            if found is None:
                hint = closest(word, [*acls.names(), *PREDEFINED])
                raise SampleError(f"no such ACL : '{word}'.", hint)
            acl = found
        suites[-1].append((negate, acl))
        negate = False
    return Condition([s for s in suites if s], words[0] == "unless")
