#!/usr/bin/env bash
# Prints the size of the built worker's wasm, raw and gzipped (what Cloudflare's
# size limit counts: 3 MiB gzipped on the free plan, 10 MiB paid).
set -euo pipefail
cd "$(dirname "$0")/.."
wasm=$(ls worker/build/*.wasm 2>/dev/null | head -n 1)
[ -n "$wasm" ] || { echo "no wasm in worker/build; run make build" >&2; exit 1; }
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
awk -v w="$wasm" -v r="$raw" -v g="$gz" \
  'BEGIN { printf "worker wasm %s: %d bytes raw (%.1f KiB), %d bytes gzip -9 (%.1f KiB)\n", w, r, r/1024, g, g/1024 }'
