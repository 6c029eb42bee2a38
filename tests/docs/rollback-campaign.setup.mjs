// Setup of docs/runbooks/rollback-campaign.md for tests/docs.test.mjs.
import assert from 'node:assert/strict';
import { fleetEdge, oneWaveSpec, waitFor, PRODUCT } from '../helpers/runbook-fleet.mjs';

const FLEET = 20;

/**
 * rollback-campaign.md: 20 simulated devices, kept polling, that took 1.1.0
 * from a completed campaign; then a campaign of 1.2.0 (operator-advanced)
 * that went through its staging group and is in its canary wave, so that
 * several devices run 1.2.0. The runbook pauses it and rolls it back.
 * Afterwards the campaign is halted with rollback, by the operator (audit),
 * every device that took 1.2.0 is back on 1.1.0 with a `rolled_back
 * {ordered}` report, and no device runs 1.2.0.
 */
export default async function rollbackCampaign() {
  const s = await fleetEdge();
  const good = await s.publish({ version: '1.1.0', securityVersion: 2 });
  const goodCampaign = await s.campaign(oneWaveSpec(good.id, `${PRODUCT} 1.1.0`, FLEET));
  const dir = s.fleetDir();
  await s.simulate({ devices: FLEET, dir, args: ['--until-version', '1.1.0'] });
  await waitFor('the 1.1.0 campaign to complete', async () => (await s.status(goodCampaign)).campaign.state.state === 'completed');
  const staging = s.simulatedIds(dir).slice(0, 3);

  const suspect = await s.publish({ version: '1.2.0', securityVersion: 2 });
  const campaign = await s.campaign({
    name: `${PRODUCT} 1.2.0`,
    release_id: suspect.id,
    selector: { hardware_ids: ['thermo-v2'], device_ids: staging },
    waves: [
      { name: 'staging', percent: 0, min_soak_minutes: 0, gate: { min_finished: 3, max_failure_rate: 0.5, confidence_z: 1.0, on_fail: 'halt_and_rollback' } },
      { name: 'canary', percent: 30, min_soak_minutes: 0, gate: { min_finished: 3, max_failure_rate: 0.5, confidence_z: 1.0, on_fail: 'halt_and_rollback' } },
      { name: 'everyone', percent: 100, min_soak_minutes: 0, gate: { min_finished: 8, max_failure_rate: 0.2, confidence_z: 1.0, on_fail: 'halt' } },
    ],
    auto_advance: false,
    budgets: { max_starts_per_minute: 600, max_in_flight: 100 },
    deadline_s: 900,
    salt: 'runbook-rollback-campaign-salt-01',
  });
  s.simulate({ devices: FLEET, dir, background: true, maxSeconds: 900, args: ['--duration-s', '900'] });
  // A wave is done when its counts rest for 3 s (devices poll every second).
  const idle = (wave) => {
    let seen = '';
    let since = 0;
    return async () => {
      const c = (await s.status(campaign)).waves[wave].counters;
      const now = JSON.stringify([c.offered, c.succeeded]);
      if (now !== seen) [seen, since] = [now, Date.now()];
      return c.succeeded > 0 && c.in_flight === 0 && c.started === c.succeeded && Date.now() - since > 3000;
    };
  };
  await waitFor('the staging group on 1.2.0', idle(0));
  const adv = await s.api('POST', `/api/campaigns/${campaign}/advance`, { token: s.tokens.operator });
  assert.equal(adv.status, 200, await adv.clone().text());
  await waitFor('the canary on 1.2.0', idle(1));
  const took = (await s.devices(`product=${PRODUCT}&version=1.2.0`)).map((d) => d.id).sort();
  assert.ok(took.length >= 4, `devices on 1.2.0: ${took}`);

  const env = s.env({ UPDRAFT_TOKEN: s.tokens.operator, CAMPAIGN: campaign });

  async function check(v) {
    const st = await s.status(campaign);
    assert.deepEqual(st.campaign.state, { state: 'halted', wave: 1, rollback: true });
    const actions = st.history.map((h) => `${h.action}:${h.actor}`);
    const operator = st.campaign.created_by;
    assert.ok(actions.includes(`campaign.pause:${operator}`), actions.join(' '));
    assert.ok(actions.includes(`campaign.rollback:${operator}`), actions.join(' '));
    assert.deepEqual(v.TOOK.split(/\s+/).filter(Boolean).sort(), took, 'the runbook listed the devices that took 1.2.0');
    for (const id of took) {
      const { reports } = await s.get(`/api/devices/${id}/reports?limit=500`);
      const last = reports.filter((r) => r.event?.state === 'rolled_back').pop();
      assert.equal(last?.event.code, 'ordered', id);
      assert.equal(last.running, '1.1.0', id);
      assert.equal(last.sha256, good.sha256, id);
    }
    const versions = await s.versions();
    assert.equal(versions['1.2.0'] ?? 0, 0, JSON.stringify(versions));
    assert.equal(versions['1.1.0'], FLEET, JSON.stringify(versions));
  }

  return { env, vars: ['TOOK'], check, stop: () => s.stop() };
}
