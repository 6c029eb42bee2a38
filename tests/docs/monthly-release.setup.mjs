// Setup of docs/runbooks/monthly-release.md for tests/docs.test.mjs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fleetEdge, waitFor, PRODUCT } from '../helpers/runbook-fleet.mjs';

const FLEET = 24;

/**
 * monthly-release.md: a fleet of 24 simulated devices on last month's 1.1.0
 * (rolled out by a campaign, so only campaigns offer to the product), kept
 * polling in the background; this month's image (1.2.0) and the release key
 * in a test directory; and the fleet's rollout policy sized for 24 devices
 * (the runbook's appendix shows a production one): three lab devices as the
 * staging group, then canary 25 %, then everyone, no soak, the windows open
 * all day. The cron ticks every second. Afterwards the campaign completed
 * through every wave, the release and the campaign were each approved by
 * another person than the one who made them, and the whole fleet runs 1.2.0.
 */
export default async function monthlyRelease() {
  const s = await fleetEdge();
  const { staging } = await s.fleetOn({ version: '1.1.0', securityVersion: 2, devices: FLEET });

  const firmware = join(s.dir, `${PRODUCT}-1.2.0.img`);
  writeFileSync(firmware, Buffer.concat([Buffer.from(`${PRODUCT} 1.2.0\n`), randomBytes(40 * 1024)]));
  const policy = join(s.dir, 'rollout-policy.json');
  writeFileSync(policy, JSON.stringify({
    name: `${PRODUCT} monthly`,
    release_id: 'REPLACE-ME',
    product: PRODUCT,
    selector: { hardware_ids: ['thermo-v2'], device_ids: staging },
    // z = 1 keeps small waves judgeable: 0 failures of 3 have an upper bound of 25 %.
    waves: [
      { name: 'staging', percent: 0, min_soak_minutes: 0, gate: { min_finished: 3, max_failure_rate: 0.5, confidence_z: 1.0, on_fail: 'halt_and_rollback' } },
      { name: 'canary', percent: 25, min_soak_minutes: 0, gate: { min_finished: 2, max_failure_rate: 0.5, confidence_z: 1.0, on_fail: 'halt_and_rollback' } },
      { name: 'everyone', percent: 100, min_soak_minutes: 0, gate: { min_finished: 10, max_failure_rate: 0.2, confidence_z: 1.0, on_fail: 'halt' } },
    ],
    auto_advance: true,
    windows: { allowed: [{ days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], start: '00:00', end: '24:00' }], unknown_zone: 'deny' },
    urgency: 'normal',
    eligibility: { min_battery_percent: 30, networks: ['wifi', 'ethernet'] },
    budgets: { max_starts_per_minute: 600, max_in_flight: 100 },
    deadline_s: 900,
    priority: 0,
    // Fixed, so that the canary's cohort (and so the test's timing) is the same every run.
    salt: 'runbook-monthly-release-salt-0001',
  }, null, 2));

  const env = s.env({
    UPDRAFT_TOKEN: s.tokens.viewer,
    PRODUCT,
    VERSION: '1.2.0',
    SECURITY_VERSION: '2',
    HARDWARE_IDS: 'thermo-v2',
    NOTES: 'November: scheduling fixes, new display driver',
    FIRMWARE: firmware,
    RELEASE_KEYS: join(s.dir, 'release.key'),
    POLICY: policy,
  });

  async function check(v) {
    const release = await s.get(`/api/releases/${v.RELEASE}`);
    assert.equal(release.version, '1.2.0');
    assert.equal(release.status, 'approved');
    assert.notEqual(release.approved_by, release.uploaded_by);
    const st = await s.status(v.CAMPAIGN);
    assert.equal(st.campaign.state.state, 'completed', JSON.stringify(st.campaign.state));
    assert.notEqual(st.campaign.approved_by, st.campaign.created_by);
    assert.equal(st.campaign.release_id, v.RELEASE);
    const advances = st.history.filter((h) => h.action === 'campaign.advance').map((h) => h.details.to.wave);
    assert.deepEqual(advances, [1, 2], JSON.stringify(st.history));
    for (const w of st.waves) {
      assert.ok(w.counters.succeeded > 0, `wave ${w.name} updated devices`);
      assert.equal(w.counters.failed + w.counters.rolled_back + w.counters.expired, 0, w.name);
    }
    assert.ok(st.waves[0].counters.succeeded === 3, 'the staging group went first');
    await waitFor('the whole fleet on 1.2.0', async () => (await s.versions())['1.2.0'] === FLEET, { timeoutMs: 20_000 });
  }

  return { env, vars: ['RELEASE', 'CAMPAIGN'], check, stop: () => s.stop() };
}
