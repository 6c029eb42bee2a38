#!/usr/bin/env bash
# `make demo`: starts the local edge, publishes a signed release through the
# two-person rule, enrolls simulated devices, shows one update check, and
# prints curl-able steps to try. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/local-edge.sh
ensure_identity
start_edge
export UPDRAFT_TOKEN=$BOOTSTRAP_TOKEN
DEMO=$STATE/demo
mkdir -p "$DEMO"

# Operators: an uploader and an approver (two people), made once.
if [ ! -f "$DEMO/tokens.env" ]; then
  up=$("$UPDRAFT" --json tokens create --name "Uma Uploader" --role uploader 2>/dev/null | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')
  ap=$("$UPDRAFT" --json tokens create --name "Avi Approver" --role approver 2>/dev/null | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')
  op=$("$UPDRAFT" --json tokens create --name "Oli Operator" --role operator 2>/dev/null | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')
  (umask 077; printf 'UPLOADER=%s\nAPPROVER=%s\nOPERATOR=%s\n' "$up" "$ap" "$op" > "$DEMO/tokens.env")
fi
source "$DEMO/tokens.env"

if [ ! -f "$DEMO/release-1.0.0.json" ]; then
  echo "== signing release 1.0.0 of acme-thermostat (offline release key)"
  head -c 1048576 /dev/urandom > "$DEMO/thermostat-1.0.0.img"
  "$UPDRAFT" release create --firmware "$DEMO/thermostat-1.0.0.img" --product acme-thermostat \
    --hardware-id thermo-v2 --version 1.0.0 --security-version 1 --notes "Demo release" \
    --sign "$LOCAL/release.key" --out "$DEMO/release-1.0.0.json" >/dev/null
  echo "== publishing it as the uploader, approving it as the approver"
  release_id=$(UPDRAFT_TOKEN=$UPLOADER "$UPDRAFT" --json publish "$DEMO/release-1.0.0.json" --firmware "$DEMO/thermostat-1.0.0.img" | node -pe 'JSON.parse(require("fs").readFileSync(0)).release.id')
  UPDRAFT_TOKEN=$APPROVER "$UPDRAFT" approve "$release_id" >/dev/null
fi

if [ ! -f "$DEMO/fleet/device-1/cert.json" ]; then
  echo "== enrolling 3 simulated devices"
  mkdir -p "$DEMO/fleet"
  enroll=$(UPDRAFT_TOKEN=$OPERATOR "$UPDRAFT" --json enroll-tokens create --name "demo line" --product acme-thermostat --max-uses 100 --expires-in 7d | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')
  echo "$enroll" > "$DEMO/enroll-token"
  for i in 1 2 3; do
    "$UPDRAFT" device enroll --enroll-token "$enroll" --key "$DEMO/fleet/device-$i.key" \
      --hardware-id thermo-v2 --serial "SN-000$i" --out "$DEMO/fleet/device-$i" >/dev/null
  done
fi
echo "== device-1 checks for updates (running 0.9.0):"
"$UPDRAFT" device check --dir "$DEMO/fleet/device-1" --key "$DEMO/fleet/device-1.key" \
  --version 0.9.0 --sha256 "$(printf '0%.0s' $(seq 64))" --security-version 1 --tz America/Chicago | sed 's/^/   /'

PUB=$(node -pe 'JSON.parse(require("fs").readFileSync(process.argv[1])).public' "$DEMO/fleet/device-1.key")
cat <<MSG

Updraft's local edge is up at $UPDRAFT_SERVER  (state in $STATE/, Ctrl-C to stop)

Try, in another terminal (from $(pwd)):
  curl -s $UPDRAFT_SERVER/healthz
  curl -si $UPDRAFT_SERVER/v1/root/1.json                    # signed root v1, cached immutably
  $UPDRAFT verify --root $LOCAL/root-1.json $DEMO/release-1.0.0.json --firmware $DEMO/thermostat-1.0.0.img
  UPDRAFT_TOKEN=$APPROVER $UPDRAFT releases list

Enroll and check as a device with curl:
  curl -s -X POST $UPDRAFT_SERVER/v1/enroll -H 'content-type: application/json' \\
    -d '{"token":"$(cat "$DEMO/enroll-token")","public_key":"$PUB","hardware_id":"thermo-v2","serial":"SN-0001"}'
  echo '{"current":{"version":"0.9.0","sha256":"$(printf 'a%.0s' $(seq 64))","security_version":1},"nonce":"try-me-0123456789","root_version":1,"revocation_seq":0}' > /tmp/check.json
  AUTH=\$($UPDRAFT device sign-request --key $DEMO/fleet/device-1.key --cert $DEMO/fleet/device-1/cert.json --method POST --path /v1/check --body /tmp/check.json)
  curl -s -X POST $UPDRAFT_SERVER/v1/check -H "Authorization: \$AUTH" --data-binary @/tmp/check.json
  $UPDRAFT device check --dir $DEMO/fleet/device-2 --key $DEMO/fleet/device-2.key --version 0.9.0 --sha256 $(printf 'a%.0s' $(seq 64)) --security-version 1

MSG
wait "$EDGE_PID"
