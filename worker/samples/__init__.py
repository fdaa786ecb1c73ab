"""HAProxy's sample engine: fetches, converters, expressions, patterns, maps, ACLs, log-format.

Pure Python, no I/O: the stream supplies a ``SampleContext``; the config layer
parses expressions, ACL lines, conditions and log-format strings with a
``SampleRegistry`` and a ``PatternLibrary``; the Lua layer calls fetches and
converters by name; the management socket drives ``PatternRef`` operations.
"""

from .acl import Acl, AclSet, Condition, parse_condition
from .args import ArgSpec, ArgType, ParseEnv
from .context import ProxyView, SampleContext, ServerView
from .errors import SampleError
from .expr import SampleExpr, parse_expr, parse_expr_prefix
from .library import MatchReport, PatternLibrary, PatternRef
from .logformat import LOG_VARIABLES, LogFormat, LogVar, parse_log_format
from .patterns import Entry, Method
from .registry import (
    ConverterDef,
    FetchDef,
    SampleRegistry,
    catalogue_markdown,
    default_registry,
    lua_name,
)
from .types import Sample, SampleType, cast, from_native, to_native, to_text
from .vars import Vars, parse_var_name

__all__ = [
    "LOG_VARIABLES",
    "Acl",
    "AclSet",
    "ArgSpec",
    "ArgType",
    "Condition",
    "ConverterDef",
    "Entry",
    "FetchDef",
    "LogFormat",
    "LogVar",
    "MatchReport",
    "Method",
    "ParseEnv",
    "PatternLibrary",
    "PatternRef",
    "ProxyView",
    "Sample",
    "SampleContext",
    "SampleError",
    "SampleExpr",
    "SampleRegistry",
    "SampleType",
    "ServerView",
    "Vars",
    "cast",
    "catalogue_markdown",
    "default_registry",
    "from_native",
    "lua_name",
    "parse_condition",
    "parse_expr",
    "parse_expr_prefix",
    "parse_log_format",
    "parse_var_name",
    "to_native",
    "to_text",
]
