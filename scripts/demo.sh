#!/usr/bin/env bash
# `make demo`: creates demo keys, a signed root v1 and a signed release (once,
# under $STATE/demo), publishes the root into the local edge, starts the edge
# on 127.0.0.1:$PORT and prints what to try. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8787}
STATE=${STATE:-.updraft}
DEMO=$STATE/demo
UPDRAFT=target/release/updraft
export WRANGLER_SEND_METRICS=false
mkdir -p "$DEMO"

if [ ! -f "$DEMO/root-1.json" ]; then
  echo "== creating demo keys and a signed root v1 in $DEMO"
  for k in root release edge; do "$UPDRAFT" keys generate --out "$DEMO/$k.key" >/dev/null; done
  "$UPDRAFT" root init --product 'acme-*' \
    --root-key "$DEMO/root.key.pub" --root-threshold 1 \
    --release-key "$DEMO/release.key.pub" --release-threshold 1 \
    --edge-key "$DEMO/edge.key.pub" \
    --sign "$DEMO/root.key" --out "$DEMO/root-1.json" >/dev/null
fi
if [ ! -f "$DEMO/release-1.0.0.json" ]; then
  echo "== building a demo firmware image and a signed release manifest"
  head -c 1048576 /dev/urandom > "$DEMO/thermostat-1.0.0.img"
  "$UPDRAFT" release create --firmware "$DEMO/thermostat-1.0.0.img" --product acme-thermostat \
    --hardware-id thermo-v2 --version 1.0.0 --security-version 1 --notes "Demo release" \
    --sign "$DEMO/release.key" --out "$DEMO/release-1.0.0.json" >/dev/null
fi

echo "== applying D1 migrations and publishing root v1 to the local edge"
wrangler d1 migrations apply DB --local --persist-to "$STATE" >/dev/null
node scripts/publish-root-local.mjs "$DEMO/root-1.json" > "$DEMO/root.sql"
wrangler d1 execute DB --local --persist-to "$STATE" --file "$DEMO/root.sql" >/dev/null

echo "== starting the edge on http://127.0.0.1:$PORT"
wrangler dev --local --ip 127.0.0.1 --port "$PORT" --persist-to "$STATE" \
  --show-interactive-dev-session=false --log-level warn &
EDGE=$!
trap 'kill "$EDGE" 2>/dev/null; wait "$EDGE" 2>/dev/null; exit 0' INT TERM
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$EDGE" 2>/dev/null || { echo "the edge failed to start" >&2; exit 1; }
  sleep 0.5
done

cat <<MSG

Updraft's local edge is up at http://127.0.0.1:$PORT  (state in $STATE/, Ctrl-C to stop)

Try:
  curl -s http://127.0.0.1:$PORT/healthz
  curl -si http://127.0.0.1:$PORT/v1/root/1.json          # signed root v1, cached immutably
  curl -si http://127.0.0.1:$PORT/v1/root/2.json          # not yet published: 404 problem+json, no-store
  $UPDRAFT root verify $DEMO/root-1.json
  $UPDRAFT verify --root $DEMO/root-1.json $DEMO/release-1.0.0.json --firmware $DEMO/thermostat-1.0.0.img
  $UPDRAFT --json verify --root $DEMO/root-1.json $DEMO/release-1.0.0.json

MSG
wait "$EDGE"
