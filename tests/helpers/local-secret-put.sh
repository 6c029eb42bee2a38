#!/usr/bin/env bash
# A stand-in for `wrangler secret put NAME` (value on stdin) against the local
# edge of a runbook test: it PUTs the value to the control server of
# tests/helpers/restartable-edge.mjs (UPDRAFT_LOCAL_CONTROL), which restarts
# workerd with the new secret and the same storage, as a deploy of a new
# secret starts fresh isolates on Cloudflare. Runbooks call it as
# `$SECRET_PUT NAME < FILE`; in production SECRET_PUT is `npx wrangler secret put`.
set -euo pipefail
name=${1:?usage: local-secret-put.sh NAME < VALUE}
: "${UPDRAFT_LOCAL_CONTROL:?not set: this stand-in only works inside a runbook test (tests/docs.test.mjs)}"
if [ -t 0 ]; then
  echo "local-secret-put.sh: give the value on stdin" >&2
  exit 2
fi
curl -fsS -X PUT --data-binary @- "$UPDRAFT_LOCAL_CONTROL/secrets/$name"
