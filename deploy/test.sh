#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite. SQLite always; PostgreSQL too when
# INTERPEOPLE_TEST_DATABASE_URL is set (every instance-backed test then runs on both).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/bootstrap.sh test
# Style first (seconds): the formatter's layout and the linter's rules (pyproject.toml [tool.ruff]).
.venv/bin/ruff format --check --quiet . && .venv/bin/ruff check --quiet .
exec .venv/bin/python -m pytest -n "${INTERPEOPLE_TEST_WORKERS:-auto}" -q "$@"
