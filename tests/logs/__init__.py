"""Logs: syslog over UDP and unix sockets, stdout, traffic log formats, Lua log levels."""
