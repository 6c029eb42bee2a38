// Emergency revocation on a simulated fleet (issue 6, BENCHMARKS.md):
//  - time from the admin request (POST /api/revocations) to the first device
//    check whose signed directive carries the new revocation seq;
//  - time until a fleet of --devices running the revoked release is back on a
//    safe image: by rolling back to its other slot, and (second drill) by the
//    fix-forward campaign when a raised floor forbids going back.
// Devices poll every 2 s (UPDRAFT_POLL_AFTER_S=2, simulator --poll-s 1): the
// figures measure the edge and the agents, not a production poll interval;
// add one poll interval for a real fleet.
// Usage: node bench/revocation.mjs [--devices 200]
import { revocationDrill } from '../tests/helpers/revocation-drill.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const devices = Number(arg('devices', '200'));
for (const mode of ['rollback', 'fix-forward']) {
  const d = await revocationDrill({ devices, mode, maxSeconds: 600, log: (m) => console.error(`[${mode}] ${m}`) });
  try {
    console.log(JSON.stringify({
      mode, devices, first_check_ms: d.firstCheckMs, fleet_safe_s: Number(d.secondsToSafe.toFixed(2)),
      versions: d.summary.versions, running_revoked: d.summary.running_revoked,
      rolled_back: d.summary.rolled_back, failed: d.summary.failed,
    }));
  } finally {
    await d.s.stop();
  }
}
