"""Stick tables shared with other luaproxy and haproxy nodes over HAProxy's peers protocol."""
