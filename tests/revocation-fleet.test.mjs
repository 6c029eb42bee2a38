// Emergency revocation end to end with the real agent code (issue 6): a
// simulated fleet on 1.2.0 meets its revocation while polling. With a good
// image in the other slot, every device goes back to it by itself
// (rolled_back:revoked); when the floor also rises above that image, no
// device may go back, and the fix-forward campaign brings them all to the
// replacement instead. Timings are printed; the 200-device figures are in
// BENCHMARKS.md (bench/revocation.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { revocationDrill } from './helpers/revocation-drill.mjs';

const DEVICES = 24;

async function reportsOf(s, id) {
  return (await (await s.api('GET', `/api/devices/${id}/reports?limit=500`, { token: s.tokens.viewer })).json()).reports
    .map((x) => (x.event.code ? `${x.event.state}:${x.event.code}` : x.event.state));
}

test('a fleet running a revoked release goes back to the good image in its other slot', async (t) => {
  const d = await revocationDrill({ devices: DEVICES, mode: 'rollback', log: (m) => t.diagnostic(m) });
  try {
    assert.equal(d.summary.running_revoked, 0);
    assert.deepEqual(d.summary.versions, { '1.1.0': DEVICES });
    assert.equal(d.revocation.seq, 1);
    assert.ok(d.firstCheckMs !== null && d.firstCheckMs < 5000, `first check saw it after ${d.firstCheckMs} ms`);
    const devices = d.readJson(d.devicesFile);
    const list = Array.isArray(devices) ? devices : devices.devices;
    const states = await reportsOf(d.s, list[0].device_id);
    assert.ok(states.includes('rolled_back:revoked'), states.join(','));
    // The campaign-less baseline offers nothing revoked: nobody re-installs 1.2.0.
    assert.ok(!states.slice(states.lastIndexOf('rolled_back:revoked') + 1).includes('downloading'), states.join(','));
    t.diagnostic(`first check saw the revocation after ${d.firstCheckMs} ms; ${DEVICES} devices safe after ${d.secondsToSafe.toFixed(1)} s`);
  } finally {
    await d.s.stop();
  }
});

test('when the floor rises above the old image, the fix-forward campaign brings every device to the replacement', async (t) => {
  const d = await revocationDrill({ devices: DEVICES, mode: 'fix-forward', log: (m) => t.diagnostic(m) });
  try {
    assert.equal(d.summary.running_revoked, 0);
    assert.deepEqual(d.summary.versions, { '1.2.1': DEVICES });
    const ff = d.revocation.fix_forward_campaign_id;
    assert.match(ff, /^cmp-/);
    const status = await (await d.s.api('GET', `/api/campaigns/${ff}`, { token: d.s.tokens.viewer })).json();
    const succeeded = status.waves.reduce((n, w) => n + (w.counters?.succeeded ?? 0), 0);
    assert.equal(succeeded, DEVICES, JSON.stringify(status.waves));
    const devices = d.readJson(d.devicesFile);
    const list = Array.isArray(devices) ? devices : devices.devices;
    const states = await reportsOf(d.s, list[0].device_id);
    assert.ok(states.includes('failed:running-revoked-no-safe-slot'), states.join(','));
    assert.equal(states.at(-1), 'succeeded', states.join(','));
    t.diagnostic(`${DEVICES} devices on the replacement ${d.secondsToSafe.toFixed(1)} s after the revocation`);
  } finally {
    await d.s.stop();
  }
});
