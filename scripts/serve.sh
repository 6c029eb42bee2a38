#!/usr/bin/env bash
# Runs the built worker locally in workerd (through wrangler) on 127.0.0.1:$PORT,
# with D1/R2/cache state persisted under $STATE. Applies D1 migrations first,
# the way production does (`wrangler d1 migrations apply`). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8787}
STATE=${STATE:-.updraft}
export WRANGLER_SEND_METRICS=false
mkdir -p "$STATE"
wrangler d1 migrations apply DB --local --persist-to "$STATE" >/dev/null
exec wrangler dev --local --ip 127.0.0.1 --port "$PORT" --persist-to "$STATE" \
  --show-interactive-dev-session=false --log-level warn
