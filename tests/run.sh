#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what the tests use
# (Debian's haproxy 2.6 as the reference, redis-server, lua-redis, wrk), then
# luaproxy with its test extras in .venv, then runs ruff and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# Every test starts luaproxy processes; without cached bytecode each start recompiles the whole
# package (1.7 s instead of 0.5 s a start), so an environment's PYTHONDONTWRITEBYTECODE is dropped.
unset PYTHONDONTWRITEBYTECODE

debian_packages=(haproxy redis-server lua-redis wrk lua5.4 varnish python3-venv openssl curl socat
                 lua-cjson lua-luaossl lua-socket)
missing=()
for pkg in "${debian_packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "tests/run.sh: missing Debian packages (${missing[*]}); tests that need them are skipped" >&2
    fi
fi

# The README's first set-up command as written, minus starting the example (tests/e2e/test_readme.py
# starts it and runs the README's check command), then the test extras over it, editable.
readme_install=$(awk '/^## Set-up/{f=1} f && /^```sh/{getline; print; exit}' README.md)
bash -c "${readme_install% && *}" >/dev/null
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check .
# Two pytest workers: most tests wait on real processes and timeouts, so a single run leaves the
# machine half idle (13 min alone, 9 min with two workers on this 2-core machine).
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 "$@"
