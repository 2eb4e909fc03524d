#!/bin/sh
# With INTERPEOPLE_INIT set, creates the instance in $INTERPEOPLE_DATA unless it exists; then runs the given
# interpeople command (default: serve). Several containers may share the folder: the first one to
# start creates it, the others wait for its config.toml.
set -eu
data="${INTERPEOPLE_DATA:-/data}"
if [ ! -f "$data/config.toml" ]; then
  if [ -n "${INTERPEOPLE_INIT:-}" ]; then
    : "${INTERPEOPLE_BASE_URL:?set INTERPEOPLE_BASE_URL, e.g. https://forum.example.org}"
    interpeople --data "$data" init --base-url "$INTERPEOPLE_BASE_URL" \
      ${INTERPEOPLE_DATABASE_URL:+--database-url "$INTERPEOPLE_DATABASE_URL"}
  else
    echo "waiting for $data/config.toml (created by the init service)..." >&2
    while [ ! -f "$data/config.toml" ]; do sleep 1; done
  fi
fi
exec interpeople --data "$data" "$@"
