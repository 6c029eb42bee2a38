// Setup of docs/runbooks/new-hardware-class.md for tests/docs.test.mjs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fleetEdge, PRODUCT } from '../helpers/runbook-fleet.mjs';

const V2_FLEET = 8;

/**
 * new-hardware-class.md: the product ships on thermo-v2 (8 simulated devices
 * on 1.1.0, from a completed campaign, kept polling in the background); an
 * image 1.2.1 built for thermo-v2 and thermo-v3 and the release key in a
 * test directory; and the routine rollout policy (thermo-v2 only). The
 * runbook enrolls three simulated thermo-v3 lab devices with the simulator
 * itself. Afterwards the lab devices run 1.2.1 through a campaign that
 * selected thermo-v3 only (the thermo-v2 fleet, though the release names
 * it, was offered nothing and still runs 1.1.0), the lab token is used up,
 * a factory token for the product exists, and the policy's new version
 * names thermo-v3 and a lab device in its staging group.
 */
export default async function newHardwareClass() {
  const s = await fleetEdge();
  const { staging } = await s.fleetOn({ version: '1.1.0', securityVersion: 2, devices: V2_FLEET });

  const factory = join(s.dir, 'thermo-v3-factory.img');
  writeFileSync(factory, Buffer.concat([Buffer.from('thermo-v3 factory image 1.0.0\n'), randomBytes(16 * 1024)]));
  const firmware = join(s.dir, `${PRODUCT}-1.2.1.img`);
  writeFileSync(firmware, Buffer.concat([Buffer.from(`${PRODUCT} 1.2.1 (thermo-v2, thermo-v3)\n`), randomBytes(40 * 1024)]));
  const policy = join(s.dir, 'rollout-policy.json');
  writeFileSync(policy, JSON.stringify({
    name: `${PRODUCT} monthly`,
    release_id: 'REPLACE-ME',
    product: PRODUCT,
    selector: { hardware_ids: ['thermo-v2'], device_ids: staging },
    waves: [
      { name: 'staging', percent: 0, min_soak_minutes: 1440, gate: { min_finished: 3, max_failure_rate: 0.5, confidence_z: 1.0, on_fail: 'halt_and_rollback' } },
      { name: 'canary', percent: 1, min_soak_minutes: 1440, gate: { min_finished: 200, max_failure_rate: 0.05, on_fail: 'halt_and_rollback' } },
      { name: 'everyone', percent: 100, min_soak_minutes: 0, gate: { min_finished: 1000, max_failure_rate: 0.02, on_fail: 'halt' } },
    ],
    auto_advance: true,
    windows: { allowed: [{ days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], start: '01:00', end: '05:00' }], unknown_zone: 'deny' },
    budgets: { max_starts_per_minute: 50, max_in_flight: 500 },
    deadline_s: 10800,
  }, null, 2));

  const env = s.env({
    UPDRAFT_TOKEN: s.tokens.viewer,
    PRODUCT,
    HARDWARE_ID: 'thermo-v3',
    VERSION: '1.2.1',
    SECURITY_VERSION: '2',
    FIRMWARE: firmware,
    FACTORY_IMAGE: factory,
    FACTORY_VERSION: '1.0.0',
    FACTORY_SECURITY_VERSION: '1',
    RELEASE_KEYS: join(s.dir, 'release.key'),
    POLICY: policy,
    LAB_SIZE: '3',
  });

  async function check(v) {
    const lab = await s.devices(`product=${PRODUCT}&hardware_id=thermo-v3`);
    assert.deepEqual(lab.map((d) => d.id).sort(), v.LAB.split(/\s+/).filter(Boolean).sort());
    assert.equal(lab.length, 3);
    for (const d of lab) assert.equal(d.running_version, '1.2.1', d.id);
    const v2 = await s.devices(`product=${PRODUCT}&hardware_id=thermo-v2`);
    assert.equal(v2.length, V2_FLEET);
    for (const d of v2) assert.equal(d.running_version, '1.1.0', `${d.id}: the thermo-v2 fleet was not offered 1.2.1`);

    const release = await s.get(`/api/releases/${v.RELEASE}`);
    assert.deepEqual(release.manifest.hardware_ids, ['thermo-v2', 'thermo-v3']);
    assert.notEqual(release.approved_by, release.uploaded_by);
    const st = await s.status(v.CAMPAIGN);
    assert.deepEqual(st.spec.selector.hardware_ids, ['thermo-v3']);
    assert.equal(st.campaign.state.state, 'running');
    assert.equal(st.campaign.state.wave, 1, 'advanced to the field wave');
    assert.equal(st.waves[0].counters.succeeded, 3);
    assert.equal(st.waves.reduce((n, w) => n + w.counters.offered, 0), 3, 'only the lab devices were offered it');

    const tokens = await s.get('/api/enroll-tokens');
    const labToken = tokens.find((t) => t.id === v.LAB_TOKEN_ID);
    assert.equal(labToken.uses, 3);
    assert.equal(labToken.max_uses, 3);
    const factory = tokens.find((t) => t.id === v.FACTORY_TOKEN_ID);
    assert.equal(factory.product, PRODUCT);
    assert.equal(factory.uses, 0);

    const next = JSON.parse(readFileSync(v.NEW_POLICY, 'utf8'));
    assert.deepEqual(next.selector.hardware_ids, ['thermo-v2', 'thermo-v3']);
    assert.ok(lab.some((d) => next.selector.device_ids.includes(d.id)), 'a lab device joined the staging group');
  }

  return { env, vars: ['LAB', 'RELEASE', 'CAMPAIGN', 'LAB_TOKEN_ID', 'FACTORY_TOKEN_ID', 'NEW_POLICY'], check, stop: () => s.stop() };
}
