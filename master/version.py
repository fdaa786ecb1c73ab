"""Version and feature strings shared by -v, -vv and -cc."""

from importlib import metadata

try:
    VERSION = metadata.version("luaproxy")
except metadata.PackageNotFoundError:
    VERSION = "0.0.0"

FEATURES = ("LUA", "PROMEX", "THREAD", "SYSTEMD", "GETADDRINFO", "OPENSSL")
