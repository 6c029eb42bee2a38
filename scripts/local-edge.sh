# Sourced by serve.sh and demo.sh: the local edge's identity and lifecycle.
# Keys, root v1 and secrets live under $STATE/local (git-ignored) and are made
# once; D1/R2/cache state persists under $STATE.
PORT=${PORT:-8787}
STATE=${STATE:-.updraft}
LOCAL=$STATE/local
UPDRAFT=${UPDRAFT:-target/release/updraft}
AGENT=${AGENT:-target/release/firmware-agent}
export WRANGLER_SEND_METRICS=false
# No fetch of Request.cf data from the internet: Miniflare uses its placeholder.
export CLOUDFLARE_CF_FETCH_ENABLED=false
export UPDRAFT_SERVER="http://127.0.0.1:$PORT"

# Keys, a signed root v1 and the worker's secrets, created on first use.
ensure_identity() {
  mkdir -p "$LOCAL"
  if [ ! -f "$LOCAL/root-1.json" ]; then
    echo "== creating local keys and a signed root v1 in $LOCAL"
    for k in root release edge; do "$UPDRAFT" keys generate --out "$LOCAL/$k.key" >/dev/null; done
    "$UPDRAFT" root init --product 'acme-*' \
      --root-key "$LOCAL/root.key.pub" --root-threshold 1 \
      --release-key "$LOCAL/release.key.pub" --release-threshold 1 \
      --edge-key "$LOCAL/edge.key.pub" \
      --sign "$LOCAL/root.key" --out "$LOCAL/root-1.json" >/dev/null
  fi
  if [ ! -f "$LOCAL/edge.env" ]; then
    umask 077
    {
      printf "UPDRAFT_EDGE_KEY='%s'\n" "$(tr -d '\n' < "$LOCAL/edge.key")"
      printf "UPDRAFT_DOWNLOAD_SECRET=%s\n" "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      printf "UPDRAFT_BOOTSTRAP_TOKEN=boot_%s\n" "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    } > "$LOCAL/edge.env"
    umask 022
  fi
  BOOTSTRAP_TOKEN=$(sed -n 's/^UPDRAFT_BOOTSTRAP_TOKEN=//p' "$LOCAL/edge.env")
}

# Starts the edge in the background (EDGE_PID) and waits for /healthz.
# DEMO_LIMITS=1 (make demo): a few hundred simulated devices share one IP,
# which the production limits (30 enrollments a minute per IP, 20 requests a
# minute per device) would throttle for minutes; the demo runs the same
# config with the limits raised, written to wrangler.demo.toml (git-ignored).
wrangler_config() {
  if [ "${DEMO_LIMITS:-0}" = 1 ]; then
    sed -E 's/^simple = \{ limit = [0-9]+, period = ([0-9]+) \}/simple = { limit = 1000000, period = \1 }/' wrangler.toml > wrangler.demo.toml
    echo "--config wrangler.demo.toml"
  fi
}

start_edge() {
  local config
  config=$(wrangler_config)
  # shellcheck disable=SC2086
  wrangler d1 migrations apply DB --local --persist-to "$STATE" $config >/dev/null
  # shellcheck disable=SC2086
  wrangler dev $config --local --ip 127.0.0.1 --port "$PORT" --persist-to "$STATE" --env-file "$LOCAL/edge.env" \
    --show-interactive-dev-session=false --log-level warn &
  EDGE_PID=$!
  trap 'kill "$EDGE_PID" 2>/dev/null; wait "$EDGE_PID" 2>/dev/null; exit 0' INT TERM
  for _ in $(seq 1 240); do
    curl -fsS "$UPDRAFT_SERVER/healthz" >/dev/null 2>&1 && break
    kill -0 "$EDGE_PID" 2>/dev/null || { echo "the edge failed to start" >&2; exit 1; }
    sleep 0.5
  done
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$UPDRAFT_SERVER/v1/root/1.json")" = 404 ]; then
    UPDRAFT_TOKEN=$BOOTSTRAP_TOKEN "$UPDRAFT" root publish "$LOCAL/root-1.json" >/dev/null
    echo "== published root v1"
  fi
}
