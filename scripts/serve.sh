#!/usr/bin/env bash
# `make serve`: the local edge alone on 127.0.0.1:$PORT (workerd through
# wrangler), state under $STATE, root v1 published. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/local-edge.sh
ensure_identity
start_edge
echo "Updraft's local edge: $UPDRAFT_SERVER  (admin token: UPDRAFT_TOKEN=$BOOTSTRAP_TOKEN; Ctrl-C to stop)"
wait "$EDGE_PID"
