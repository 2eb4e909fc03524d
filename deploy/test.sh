#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite. SQLite always; PostgreSQL too when
# INTERPEOPLE_TEST_DATABASE_URL is set (every instance-backed test then runs on both).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/bootstrap.sh test
# Browser stories drive Debian's chromium through Playwright (no browser download); best effort, as root.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing chromium for the browser tests..." >&2
  { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null 2>&1 ||
    echo "chromium could not be installed: the browser tests will be skipped." >&2
fi
# Style first (seconds): the formatter's layout and the linter's rules (pyproject.toml [tool.ruff]).
.venv/bin/ruff format --check --quiet . && .venv/bin/ruff check --quiet .
exec .venv/bin/python -m pytest -n "${INTERPEOPLE_TEST_WORKERS:-auto}" -q "$@"
