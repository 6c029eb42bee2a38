#!/usr/bin/env bash
# `make demo`: starts the local edge, publishes signed releases through the
# two-person rule, enrolls devices, shows one update check, then runs two
# staged rollouts over a simulated fleet of real agents (a good release
# through staging, canary and waves; a bad one halted automatically), and
# prints steps to try.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEMO_LIMITS=1
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
# A security officer for emergency revocation (added after the first three; older demo state gets one too).
if [ -z "${SECURITY:-}" ]; then
  SECURITY=$("$UPDRAFT" --json tokens create --name "Sam Security" --role security 2>/dev/null | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')
  (umask 077; printf 'SECURITY=%s\n' "$SECURITY" >> "$DEMO/tokens.env")
fi

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
  enroll=$(UPDRAFT_TOKEN=$OPERATOR "$UPDRAFT" --json enroll-tokens create --name "demo line" --product acme-thermostat --max-uses 1000 --expires-in 7d | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')
  echo "$enroll" > "$DEMO/enroll-token"
  for i in 1 2 3; do
    "$UPDRAFT" device enroll --enroll-token "$enroll" --key "$DEMO/fleet/device-$i.key" \
      --hardware-id thermo-v2 --serial "SN-000$i" --out "$DEMO/fleet/device-$i" >/dev/null
  done
fi
echo "== device-1 checks for updates (running 0.9.0):"
"$UPDRAFT" device check --dir "$DEMO/fleet/device-1" --key "$DEMO/fleet/device-1.key" \
  --version 0.9.0 --sha256 "$(printf '0%.0s' $(seq 64))" --security-version 1 --tz America/Chicago | sed 's/^/   /'

# Two releases for the rollout: 1.1.0 is good; 1.2.0's image carries the
# simulator's marker that makes 30 % of devices fail their health check.
publish_release() { # version security_version [marker]
  local v=$1 sv=$2 marker=${3:-}
  [ -f "$DEMO/release-$v.id" ] && return
  { printf 'acme-thermostat %s\n%s\n' "$v" "$marker"; head -c 2097152 /dev/urandom; } > "$DEMO/thermostat-$v.img"
  "$UPDRAFT" release create --firmware "$DEMO/thermostat-$v.img" --product acme-thermostat \
    --hardware-id thermo-v2 --version "$v" --security-version "$sv" --notes "Demo release $v" \
    --sign "$LOCAL/release.key" --out "$DEMO/release-$v.json" >/dev/null
  UPDRAFT_TOKEN=$UPLOADER "$UPDRAFT" --json publish "$DEMO/release-$v.json" --firmware "$DEMO/thermostat-$v.img" \
    | node -pe 'JSON.parse(require("fs").readFileSync(0)).release.id' > "$DEMO/release-$v.id"
  UPDRAFT_TOKEN=$APPROVER "$UPDRAFT" approve "$(cat "$DEMO/release-$v.id")" >/dev/null
}
echo "== signing and publishing releases 1.1.0 (good) and 1.2.0 (fails 30 % of boots)"
publish_release 1.1.0 2
publish_release 1.2.0 2 UPDRAFT-SIM-BOOT-FAILURE-RATE=0.30

# The fleet: real agents (firmware-agent simulate), each with its own key,
# slots and boot env under $DEMO/fleet-sim. Keys derive from --key-seed, so
# the staging group's device ids are known before the devices enroll.
DEVICES=${DEMO_DEVICES:-200}
KEY_SEED=7
staging_ids=$(node -e '
  const c = require("crypto");
  const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
  const ids = [0, 1, 2].map((i) => {
    const seed = c.createHash("sha256").update(Buffer.concat([Buffer.from("updraft-sim-device-key"), u64(process.argv[1]), u64(i)])).digest();
    const key = c.createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
    const pub = c.createPublicKey(key).export({ format: "der", type: "spki" }).subarray(-32);
    return "\"dev-" + c.createHash("sha256").update(pub).digest("hex").slice(0, 20) + "\"";
  });
  console.log(ids.join(","));' "$KEY_SEED")

campaign_spec() { # name release-version canary-percent
  cat <<JSON
{ "name": "$1", "release_id": "$(cat "$DEMO/release-$2.id")",
  "selector": { "hardware_ids": ["thermo-v2"], "device_ids": [$staging_ids] },
  "waves": [
    { "name": "staging", "percent": 0, "gate": { "min_finished": 3, "max_failure_rate": 0.6, "on_fail": "halt_and_rollback" } },
    { "name": "canary", "percent": $3, "gate": { "min_finished": 4, "max_failure_rate": 0.5, "on_fail": "halt_and_rollback" } },
    { "name": "early", "percent": 25, "gate": { "min_finished": 30, "max_failure_rate": 0.15, "on_fail": "halt_and_rollback" } },
    { "name": "everyone", "percent": 100, "gate": { "min_finished": 100, "max_failure_rate": 0.1, "on_fail": "halt_and_rollback" } } ],
  "budgets": { "max_starts_per_minute": 120, "max_in_flight": 60 },
  "deadline_s": 900, "auto_advance": true, "salt": "demo-$2-cohort-salt" }
JSON
}

start_campaign() { # name version canary-percent -> id
  local id
  campaign_spec "$1" "$2" "$3" > "$DEMO/campaign-$2.json"
  id=$(UPDRAFT_TOKEN=$OPERATOR "$UPDRAFT" --json campaign create --spec "$DEMO/campaign-$2.json" | node -pe 'JSON.parse(require("fs").readFileSync(0)).id')
  UPDRAFT_TOKEN=$APPROVER "$UPDRAFT" campaign approve "$id" >/dev/null
  UPDRAFT_TOKEN=$OPERATOR "$UPDRAFT" campaign start "$id" >/dev/null
  echo "$id"
}

if [ ! -f "$DEMO/rollout.done" ]; then
  # The campaign exists before any simulated device checks, so no device
  # takes 1.1.0 outside it (once a product has campaigns, only they offer).
  echo "== campaign 'thermostat 1.1.0': staging group (3 devices) -> canary 2 % -> 25 % -> everyone"
  GOOD=$(start_campaign "thermostat 1.1.0" 1.1.0 2)
  echo "== starting a fleet of $DEVICES simulated devices (U.S. time zones, batteries, a flaky network)"
  "$AGENT" simulate --server "$UPDRAFT_SERVER" --trust-anchor "$LOCAL/root-1.json" \
    --enroll-token-file "$DEMO/enroll-token" --devices "$DEVICES" --dir "$DEMO/fleet-sim" \
    --key-seed "$KEY_SEED" --seed "$KEY_SEED" --flaky-network 0.02 --poll-s 2 --max-seconds 900 \
    > "$DEMO/fleet-summary.txt" 2> "$DEMO/fleet-progress.log" &
  FLEET_PID=$!
  # The cron trigger runs every minute in production; here the demo ticks every 2 s.
  ( while kill -0 "$FLEET_PID" 2>/dev/null; do
      curl -s -X POST -H "authorization: Bearer $BOOTSTRAP_TOKEN" "$UPDRAFT_SERVER/api/campaigns/tick" >/dev/null; sleep 2
    done ) &
  TICKER_PID=$!
  trap 'kill -INT "$FLEET_PID" 2>/dev/null; kill "$TICKER_PID" "$EDGE_PID" 2>/dev/null; wait "$EDGE_PID" 2>/dev/null; exit 0' INT TERM
  UPDRAFT_TOKEN=$OPERATOR "$UPDRAFT" campaign status "$GOOD" --watch --interval 1 || true
  UPDRAFT_TOKEN=$OPERATOR "$UPDRAFT" campaign status "$GOOD" | sed 's/^/   /'

  echo "== campaign 'thermostat 1.2.0' (a bad build): the gates should halt it early and roll it back"
  BAD=$(start_campaign "thermostat 1.2.0" 1.2.0 3)
  UPDRAFT_TOKEN=$OPERATOR "$UPDRAFT" campaign status "$BAD" --watch --interval 1 || true
  sleep 8 # the halt's rollback orders reach the canary devices at their next check
  UPDRAFT_TOKEN=$OPERATOR "$UPDRAFT" campaign status "$BAD" | sed 's/^/   /'
  kill -INT "$FLEET_PID" 2>/dev/null; wait "$FLEET_PID" 2>/dev/null || true
  kill "$TICKER_PID" 2>/dev/null || true
  echo "== the fleet after both rollouts:"
  sed 's/^/   /' "$DEMO/fleet-summary.txt"
  printf 'GOOD=%s\nBAD=%s\n' "$GOOD" "$BAD" > "$DEMO/rollout.done"
fi
source "$DEMO/rollout.done"

PUB=$(node -pe 'JSON.parse(require("fs").readFileSync(process.argv[1])).public' "$DEMO/fleet/device-1.key")
cat <<MSG

Updraft's local edge is up at $UPDRAFT_SERVER  (state in $STATE/, Ctrl-C to stop)

Open the admin UI at $UPDRAFT_SERVER/ and sign in with a token:
  operator  $OPERATOR   (campaigns: the two rollouts, live)
  approver  $APPROVER
  security  $SECURITY   (the Revocation page)

Revoke the bad release and watch the fleet leave it (docs/runbooks/emergency-revocation.md):
  UPDRAFT_TOKEN=$SECURITY $UPDRAFT revoke --release $(cat "$DEMO/release-1.2.0.id") --reason "demo: fails 30 % of boots" --yes
  UPDRAFT_TOKEN=$SECURITY $UPDRAFT revocations list

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

The two rollouts, the fleet and the audit trail:
  UPDRAFT_TOKEN=$OPERATOR $UPDRAFT campaign status $GOOD
  UPDRAFT_TOKEN=$OPERATOR $UPDRAFT campaign status $BAD
  UPDRAFT_TOKEN=$OPERATOR $UPDRAFT campaign list
  UPDRAFT_TOKEN=$OPERATOR $UPDRAFT audit verify
  curl -s -H "authorization: Bearer $OPERATOR" $UPDRAFT_SERVER/api/fleet

A simulated device's state (boot env, journal, reports) and its story at the edge:
  $AGENT status --config $DEMO/fleet-sim/devices/00000/agent.toml
  UPDRAFT_TOKEN=$APPROVER curl -s -H "authorization: Bearer \$UPDRAFT_TOKEN" $UPDRAFT_SERVER/api/devices/\$(head -1 $DEMO/fleet-sim/device-ids.txt)/reports

MSG
wait "$EDGE_PID"
