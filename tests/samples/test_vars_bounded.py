"""Variable names made from request data do not grow a worker's memory without bound."""

from __future__ import annotations

from luaproxy.worker.samples import vars as samples_vars


def test_declared_names_stop_at_their_bound() -> None:
    saved = set(samples_vars.DECLARED)
    try:
        for n in range(samples_vars.DECLARED_MAX + 500):
            samples_vars.parse_var_name(f"txn.made_from_request_{n}")
        assert len(samples_vars.DECLARED) == samples_vars.DECLARED_MAX
    finally:
        samples_vars.DECLARED.clear()
        samples_vars.DECLARED.update(saved)
        samples_vars.parse_var_name.cache_clear()
