"""Version and feature strings shared by -v, -vv and -cc."""

VERSION = "0.1.0"
"""luaproxy's own version (pyproject.toml reads it from here): a constant, because asking importlib.metadata
would load it with email and zipfile, about 3 MB in every process."""

# The HAProxy release whose configuration language and behaviour luaproxy follows: what
# version_atleast()/version_before() compare with in -cc and .if conditions.
HAPROXY_VERSION = "2.6.12"

# PCRE2: the regexes (-m reg, regsub, map_reg...) are Python's re, which reads the PCRE syntax
# configurations use (\d, (?i), lookarounds), so what -cc 'feature(PCRE2)' guards runs here.
FEATURES = ("LUA", "PROMEX", "THREAD", "SYSTEMD", "GETADDRINFO", "OPENSSL", "PCRE2", "LINUX_SPLICE")
