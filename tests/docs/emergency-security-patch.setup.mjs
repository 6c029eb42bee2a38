// Setup of docs/runbooks/emergency-security-patch.md for tests/docs.test.mjs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fleetEdge, PRODUCT } from '../helpers/runbook-fleet.mjs';

const FLEET = 20;

/** The hour (0-23) of `at` in the IANA zone `tz`. */
function localHour(at, tz) {
  return Number(new Intl.DateTimeFormat('en-US', { timeZone: tz, hour: 'numeric', hourCycle: 'h23' }).format(at));
}

/**
 * emergency-security-patch.md: 20 simulated devices on the vulnerable 1.1.0
 * (security_version 2, rolled out by a completed campaign), kept polling;
 * the patched image 1.1.1 and the release key in a test directory; and the
 * routine rollout policy with its window set to an hour that is closed now
 * in every U.S. zone the simulator uses (9 to 15 hours ahead), and budgets
 * too slow for the test's time (5/min): only the runbook's `urgency:
 * critical` and bigger budgets get the patch out in time. Afterwards the
 * critical campaign completed, every device runs 1.1.1, the floor of the
 * product is 3 in the signed list, the vulnerable image answers 410, and
 * last month's (completed) campaign was left alone: no rollback orders.
 */
export default async function emergencySecurityPatch() {
  const s = await fleetEdge();
  const { release: vulnerable, campaign: lastCampaign, staging } = await s.fleetOn({ version: '1.1.0', securityVersion: 2, devices: FLEET });

  const firmware = join(s.dir, `${PRODUCT}-1.1.1.img`);
  writeFileSync(firmware, Buffer.concat([Buffer.from(`${PRODUCT} 1.1.1\n`), randomBytes(40 * 1024)]));
  const windowHour = (new Date().getUTCHours() + 5) % 24;
  const hh = (h) => `${String(h).padStart(2, '0')}:00`;
  const window = { start: hh(windowHour), end: hh(windowHour + 1) };
  const policy = join(s.dir, 'rollout-policy.json');
  writeFileSync(policy, JSON.stringify({
    name: `${PRODUCT} monthly`,
    release_id: 'REPLACE-ME',
    product: PRODUCT,
    selector: { hardware_ids: ['thermo-v2'], device_ids: staging },
    waves: [
      { name: 'staging', percent: 0, min_soak_minutes: 0, gate: { min_finished: 3, max_failure_rate: 0.5, confidence_z: 1.0, on_fail: 'halt_and_rollback' } },
      { name: 'canary', percent: 25, min_soak_minutes: 0, gate: { min_finished: 2, max_failure_rate: 0.5, confidence_z: 1.0, on_fail: 'halt_and_rollback' } },
      { name: 'everyone', percent: 100, min_soak_minutes: 0, gate: { min_finished: 8, max_failure_rate: 0.2, confidence_z: 1.0, on_fail: 'halt' } },
    ],
    auto_advance: true,
    windows: { allowed: [{ days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], ...window }], unknown_zone: 'deny' },
    urgency: 'normal',
    eligibility: { min_battery_percent: 30, networks: ['wifi', 'ethernet'] },
    budgets: { max_starts_per_minute: 5, max_in_flight: 10 },
    adaptive: { initial_per_minute: 2, factor: 2.0, succeeded_per_step: 50 },
    deadline_s: 900,
    priority: 0,
    salt: 'runbook-security-patch-salt-0001',
  }, null, 2));

  const env = s.env({
    UPDRAFT_TOKEN: s.tokens.viewer,
    VULNERABLE_RELEASE: vulnerable.id,
    VERSION: '1.1.1',
    FIRMWARE: firmware,
    RELEASE_KEYS: join(s.dir, 'release.key'),
    POLICY: policy,
    ADVISORY: 'ACME-SA-2026-11: remote code execution in the MQTT parser, fixed in 1.1.1',
  });

  async function check(v) {
    const st = await s.status(v.CAMPAIGN);
    assert.equal(st.campaign.state.state, 'completed', JSON.stringify(st.campaign.state));
    assert.equal(st.spec.urgency, 'critical');
    assert.ok(st.spec.priority > 0);
    assert.ok(st.spec.budgets.max_starts_per_minute >= 500);
    assert.equal(st.spec.adaptive, undefined);
    assert.deepEqual(st.spec.windows.allowed[0].start, window.start, 'the windows stay in the spec; critical ignores them');
    const devices = await s.devices(`product=${PRODUCT}`);
    assert.equal(devices.length, FLEET);
    const now = new Date();
    for (const d of devices) {
      assert.equal(d.running_version, '1.1.1', d.id);
      assert.equal(d.running_security_version, 3, d.id);
      assert.notEqual(localHour(now, d.timezone), windowHour, `the window was closed for ${d.id} (${d.timezone})`);
    }
    const release = await s.get(`/api/releases/${v.PATCH}`);
    assert.equal(release.security_version, 3);
    assert.notEqual(release.approved_by, release.uploaded_by);
    const record = await s.get(`/api/revocations/${v.SEQ}`);
    assert.deepEqual(record.min_security_version, { [PRODUCT]: 3 });
    assert.deepEqual(record.release_ids, []);
    assert.equal(record.fix_forward_campaign_id, null);
    const list = JSON.parse(Buffer.from((await (await s.edge.fetch('/v1/revocations.json')).json()).payload, 'base64'));
    assert.equal(list.seq, Number(v.SEQ));
    assert.deepEqual(list.min_security_version, { [PRODUCT]: 3 });
    assert.equal((await s.edge.fetch(`/v1/artifacts/${vulnerable.sha256}`)).status, 410);
    assert.deepEqual(record.halted_campaigns, []);
    assert.equal((await s.status(lastCampaign)).campaign.state.state, 'completed', 'no rollback orders for last month\'s campaign');
  }

  return { env, vars: ['PATCH', 'CAMPAIGN', 'SEQ'], check, stop: () => s.stop() };
}
