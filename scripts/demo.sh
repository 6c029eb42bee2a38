#!/usr/bin/env bash
# `make demo`: starts the local edge, publishes signed releases through the
# two-person rule, enrolls devices, shows one update check, runs a simulated
# fleet of real agents that updates itself, and prints steps to try.
# Ctrl-C stops everything.
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

if [ ! -f "$DEMO/release-1.1.0.json" ]; then
  echo "== signing and publishing release 1.1.0 (security version 2) for the simulated fleet"
  head -c 2097152 /dev/urandom > "$DEMO/thermostat-1.1.0.img"
  "$UPDRAFT" release create --firmware "$DEMO/thermostat-1.1.0.img" --product acme-thermostat \
    --hardware-id thermo-v2 --version 1.1.0 --security-version 2 --notes "Demo fleet update" \
    --sign "$LOCAL/release.key" --out "$DEMO/release-1.1.0.json" >/dev/null
  release_id=$(UPDRAFT_TOKEN=$UPLOADER "$UPDRAFT" --json publish "$DEMO/release-1.1.0.json" --firmware "$DEMO/thermostat-1.1.0.img" | node -pe 'JSON.parse(require("fs").readFileSync(0)).release.id')
  UPDRAFT_TOKEN=$APPROVER "$UPDRAFT" approve "$release_id" >/dev/null
fi

# A fleet of real agents (firmware-agent simulate): each device has its own
# key, slots and boot env under $DEMO/fleet-sim; they enroll, download 1.1.0
# with resume, verify, install into slot B, trial-boot, commit and report.
# The edge limits enrollment to 30 per minute per IP: the fleet stays under it.
echo "== a simulated fleet of ${DEMO_DEVICES:-24} devices (U.S. time zones, batteries, a flaky network) takes 1.1.0"
"$AGENT" simulate --server "$UPDRAFT_SERVER" --trust-anchor "$LOCAL/root-1.json" \
  --enroll-token-file "$DEMO/enroll-token" --devices "${DEMO_DEVICES:-24}" --dir "$DEMO/fleet-sim" \
  --flaky-network 0.05 --poll-s 2 --until-version 1.1.0 --max-seconds 180 --seed 42 | sed 's/^/   /'

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

A simulated device's state (boot env, journal, reports) and its story at the edge:
  $AGENT status --config $DEMO/fleet-sim/devices/00000/agent.toml
  UPDRAFT_TOKEN=$APPROVER curl -s -H "authorization: Bearer \$UPDRAFT_TOKEN" $UPDRAFT_SERVER/api/devices/\$(head -1 $DEMO/fleet-sim/device-ids.txt)/reports

MSG
wait "$EDGE_PID"
