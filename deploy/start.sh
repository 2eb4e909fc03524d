#!/usr/bin/env bash
# Installs what Interpeople needs and starts a working instance on SQLite.
# Usage: deploy/start.sh [DATA_DIR] [BASE_URL]   (defaults: ./instance and http://127.0.0.1:8000)
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/bootstrap.sh
data="${1:-${INTERPEOPLE_DATA:-instance}}"
base_url="${2:-${INTERPEOPLE_BASE_URL:-http://127.0.0.1:8000}}"
if [ ! -f "$data/config.toml" ]; then
  .venv/bin/interpeople --data "$data" init --base-url "$base_url"
  echo "Next: .venv/bin/interpeople --data $data movement create SLUG --name \"Name\""
fi
exec .venv/bin/interpeople --data "$data" serve
