// Staged rollouts end to end: the built worker in Miniflare (D1, R2, the
// campaign Durable Objects), a simulated fleet of real agents
// (`firmware-agent simulate`, reproducible keys), and the cron tick driven
// through `POST /api/campaigns/tick` instead of waiting a minute per step.
//
// A good release goes canary → 20 % → everyone and completes. A release whose
// image fails 30 % of boots (the simulator's in-image marker) halts during
// the canary with under 5 % of the fleet ever offered it; devices whose
// health check failed rolled themselves back, and the halt's rollback order
// brings the canary devices that took it back to the good image.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { tempDir } from './helpers/cli.mjs';
import { AGENT } from './helpers/agent.mjs';

const FLEET = 300;
const fleetDir = tempDir('rollout-fleet-');
let s;
let token;

before(async () => {
  s = await readyEdge({ unlimited: true });
  const t = await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'fleet', product: 'acme-thermostat', max_uses: 10_000 } });
  token = (await t.json()).token;
});

after(() => s?.stop());

async function publish(opts) {
  const release = makeRelease(s.dir, { size: 80_000, ...opts });
  assert.equal((await s.api('PUT', `/api/artifacts/${release.sha256}`, { token: s.tokens.uploader, body: release.bytes })).status, 201);
  const rel = await (await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: release.envelope })).json();
  assert.equal((await s.api('POST', `/api/releases/${rel.id}/approve`, { token: s.tokens.approver })).status, 200);
  return { ...release, id: rel.id };
}

const gate = (min_finished, max_failure_rate) => ({ min_finished, max_failure_rate, on_fail: 'halt_and_rollback' });

async function startCampaign(release, name, salt) {
  const spec = {
    name,
    release_id: release.id,
    selector: { hardware_ids: ['thermo-v2'] },
    waves: [
      // 0 of 5 failures has a Wilson upper bound of 0.43: a good canary passes a 0.5 gate,
      // and one failure in five (bound 0.62) halts it.
      { name: 'canary', percent: 3, min_soak_minutes: 0, gate: gate(5, 0.5) },
      { name: 'early', percent: 20, min_soak_minutes: 0, gate: gate(30, 0.2) },
      { name: 'everyone', percent: 100, min_soak_minutes: 0, gate: gate(100, 0.1) },
    ],
    budgets: { max_starts_per_minute: 1000, max_in_flight: 1000 },
    deadline_s: 600,
    auto_advance: true,
    salt,
  };
  const created = await s.api('POST', '/api/campaigns', { token: s.tokens.operator, body: spec });
  assert.equal(created.status, 201, await created.clone().text());
  const { id } = await created.json();
  const approved = await s.api('POST', `/api/campaigns/${id}/approve`, { token: s.tokens.approver });
  assert.equal(approved.status, 200, await approved.clone().text());
  const started = await s.api('POST', `/api/campaigns/${id}/start`, { token: s.tokens.operator });
  assert.equal(started.status, 200, await started.clone().text());
  return id;
}

async function status(id) {
  const res = await s.api('GET', `/api/campaigns/${id}`, { token: s.tokens.viewer });
  assert.equal(res.status, 200);
  return res.json();
}

/** Runs the fleet while ticking the campaign every 500 ms; resolves with the sim summary. */
async function runFleet(args, campaignId, { stopWhen }) {
  const child = spawn(AGENT, ['simulate', '--server', s.edge.url, '--trust-anchor', s.rootPath, '--enroll-token', token,
    '--devices', String(FLEET), '--dir', fleetDir, '--key-seed', '11', '--seed', '11', '--threads', '16', '--poll-s', '1',
    '--no-battery', '--json', ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('close', resolve));
  let done = false;
  exited.then(() => (done = true));
  let last;
  while (!done) {
    await new Promise((r) => setTimeout(r, 500));
    const tick = await s.api('POST', '/api/campaigns/tick', { token: s.tokens.admin });
    assert.equal(tick.status, 200, await tick.clone().text());
    last = await status(campaignId);
    if (stopWhen(last)) child.kill('SIGINT');
  }
  await exited;
  return { summary: stdout ? JSON.parse(stdout) : null, stderr, last: await status(campaignId) };
}

const offeredOf = (st) => st.waves.reduce((n, w) => n + w.counters.offered, 0);

test('a good release goes canary → 20 % → everyone and completes', async () => {
  const good = await publish({ version: '1.1.0', securityVersion: 2 });
  const id = await startCampaign(good, 'good 1.1.0', 'salt-good-release-0001');
  const { summary, last, stderr } = await runFleet(['--until-version', '1.1.0', '--max-seconds', '150'], id, { stopWhen: () => false });
  assert.equal(last.campaign.state.state, 'completed', JSON.stringify(last.campaign.state) + stderr.slice(-2000));
  assert.equal(summary.versions['1.1.0'], FLEET, JSON.stringify(summary.versions));
  for (const w of last.waves) assert.equal(w.counters.failed + w.counters.rolled_back, 0, w.name);
  const advanced = last.history.filter((h) => JSON.stringify(h).includes('advanced'));
  assert.ok(advanced.length >= 2, `every wave was passed in turn: ${JSON.stringify(last.history)}`);
});

test('a release failing 30 % of boots halts in the canary with under 5 % of the fleet exposed, and is rolled back', async () => {
  const testStarted = Date.now();
  const bad = await publish({ version: '1.2.0', securityVersion: 2, marker: 'UPDRAFT-SIM-BOOT-FAILURE-RATE=0.30' });
  const id = await startCampaign(bad, 'bad 1.2.0', 'salt-bad-release-00001');
  let haltedAt;
  const { summary, last } = await runFleet(['--max-seconds', '40'], id, {
    // Keep the fleet running a few seconds after the halt so rollback orders are carried out.
    stopWhen: (st) => {
      if (st.campaign.state.state === 'halted' && !haltedAt) haltedAt = Date.now();
      return haltedAt && Date.now() - haltedAt > 6000;
    },
  });
  assert.equal(last.campaign.state.state, 'halted', JSON.stringify({ state: last.campaign.state, waves: last.waves, waiting: last.waiting }));
  assert.equal(last.campaign.state.wave, 0, 'halted in the canary');
  assert.equal(last.campaign.state.rollback, true);

  const offered = offeredOf(last);
  const exposure = offered / FLEET;
  console.log(`# canary exposure: ${offered} of ${FLEET} devices offered 1.2.0 (${(exposure * 100).toFixed(1)} %)`);
  assert.ok(offered > 0 && exposure < 0.05, `${offered} devices offered the bad release`);

  // Every device that ever started 1.2.0 ends on 1.1.0: failed health checks
  // rolled back on the device, the rest by the halt's rollback order.
  const devices = JSON.parse(readFileSync(summary.devices_file, 'utf8'));
  const list = Array.isArray(devices) ? devices : devices.devices;
  assert.equal(list.filter((d) => d.version === '1.2.0').length, 0, 'no device is left on the bad release');
  assert.equal(summary.versions['1.1.0'], FLEET);
  const selfRolledBack = summary.rolled_back['health-check-failed'] ?? 0;
  assert.ok(selfRolledBack >= 1, 'the gate halted on real failures');
  const exposedIds = [];
  for (const d of list) {
    const reports = await (await s.api('GET', `/api/devices/${d.device_id}/reports?limit=500`, { token: s.tokens.viewer })).json();
    if (reports.reports.some((r) => r.sha256 === bad.sha256)) exposedIds.push(d.device_id);
  }
  assert.equal(exposedIds.length, offered, 'the edge\'s offered count matches the devices that reported on the image');

  // Mean time to recovery: from the start of an update that did not stick to
  // its device's rolled_back report, over the halted campaign's rollbacks.
  const mttr = last.campaign_mttr_s;
  const testSeconds = (Date.now() - testStarted) / 1000;
  console.log(`# mean time to recovery: ${mttr} s (test took ${testSeconds.toFixed(0)} s)`);
  assert.equal(typeof mttr, 'number', JSON.stringify(last.waves.map((w) => w.counters)));
  // Times are whole seconds: a device that rolls back within the second of its start counts 0.
  assert.ok(mttr >= 0 && mttr < testSeconds, `campaign MTTR ${mttr} s`);
  assert.equal(last.waves[0].mean_time_to_recovery_s, mttr, 'every rollback was in the canary');
  assert.equal(last.waves[0].counters.recovered, last.waves[0].counters.rolled_back);
});
