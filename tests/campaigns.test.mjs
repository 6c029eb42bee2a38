// Rollout campaigns at the edge (DESIGN §4, issue 5): the admin API and its
// transitions, the check path through core::rollout::decide and the
// campaign's Durable Object (cohorts, budgets), reports finishing attempts,
// the tick advancing and halting, rollback orders, the series and the fleet.
// The devices are the real CLI signing real requests; the tick is driven
// through POST /api/campaigns/tick instead of waiting for the cron.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { expectProblem } from './helpers/edge.mjs';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { updraft } from './helpers/cli.mjs';

let s;
let serial = 0;
let seq = 0;
const tokens = {};
let thermo; // the release the thermostat campaign rolls out
let lamp; // the (bad) release of the lamp campaign

const FACTORY = { version: '0.9.0', sha256: 'cd'.repeat(32), security_version: 1 };

async function publish(release) {
  assert.equal((await s.api('PUT', `/api/artifacts/${release.sha256}`, { token: s.tokens.uploader, body: release.bytes })).status, 201);
  const rel = await (await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: release.envelope })).json();
  return rel.id;
}

before(async () => {
  s = await readyEdge({ unlimited: true });
  for (const [product, hw] of [['acme-thermostat', 'thermo-v2'], ['acme-lamp', 'lamp-v1']]) {
    const res = await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: product, product, max_uses: 100 } });
    tokens[product] = { token: (await res.json()).token, hw };
  }
  thermo = makeRelease(s.dir, { version: '1.2.0', size: 4096 });
  thermo.id = await publish(thermo);
  lamp = makeRelease(s.dir, { version: '2.0.0', product: 'acme-lamp', hardware: ['lamp-v1'], size: 4096 });
  lamp.id = await publish(lamp);
});
after(() => s?.stop());

function enroll(product) {
  serial += 1;
  const dir = join(s.dir, `cdev-${serial}`);
  const key = join(s.dir, `cdev-${serial}.key`);
  const { token, hw } = tokens[product];
  const out = updraft(['--json', 'device', 'enroll', '--server', s.edge.url, '--enroll-token', token, '--key', key,
    '--hardware-id', hw, '--serial', `SN-C${serial}`, '--out', dir]);
  return { dir, key, id: JSON.parse(out).device_id };
}

function sign(d, path, body) {
  const file = join(d.dir, 'body.json');
  writeFileSync(file, body);
  return updraft(['device', 'sign-request', '--key', d.key, '--cert', join(d.dir, 'cert.json'), '--method', 'POST', '--path', path, '--body', file]).trim();
}

/** A signed check; `cf` overrides request.cf (Miniflare's MF-CF-Blob). Returns the directive payload. */
async function check(d, { current = FACTORY, cf } = {}) {
  const body = JSON.stringify({ current, battery: 90, network: 'wifi', tz: 'America/Chicago',
    nonce: `nonce-${Date.now()}-${Math.random().toString(16).slice(2)}`, root_version: 1, revocation_seq: 0 });
  const headers = { authorization: sign(d, '/v1/check', body), 'content-type': 'application/json' };
  if (cf) headers['MF-CF-Blob'] = JSON.stringify(cf);
  const res = await s.edge.fetch('/v1/check', { method: 'POST', body, headers });
  assert.equal(res.status, 200, await res.clone().text());
  const env = await res.json();
  return JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
}

async function report(d, event, { campaign, sha256, running = FACTORY.version, reportSeq } = {}) {
  const r = { seq: reportSeq ?? ++seq, at: Math.floor(Date.now() / 1000), event, running, running_security_version: 1 };
  if (campaign) r.campaign_id = campaign;
  if (sha256) r.sha256 = sha256;
  const body = JSON.stringify({ reports: [r] });
  const res = await s.edge.fetch('/v1/reports', { method: 'POST', body, headers: { authorization: sign(d, '/v1/reports', body), 'content-type': 'application/json' } });
  assert.equal(res.status, 200, await res.clone().text());
  return { ack: await res.json(), seq: r.seq };
}

function spec(overrides = {}) {
  return {
    name: 'thermostat 1.2',
    release_id: thermo.id,
    waves: [
      { name: 'staging', percent: 0, min_soak_minutes: 0, gate: { min_finished: 1, max_failure_rate: 0.9 } },
      { name: 'everyone', percent: 100, min_soak_minutes: 0, gate: { min_finished: 1, max_failure_rate: 0.9 } },
    ],
    budgets: { max_starts_per_minute: 100, max_in_flight: 1 },
    deadline_s: 3600,
    auto_advance: true,
    ...overrides,
  };
}

async function create(body, token = s.tokens.operator) {
  return s.api('POST', '/api/campaigns', { token, body });
}

async function act(id, verb, token = s.tokens.operator) {
  return s.api('POST', `/api/campaigns/${id}/${verb}`, { token });
}

async function status(id) {
  const res = await s.api('GET', `/api/campaigns/${id}`, { token: s.tokens.viewer });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

async function tickNow() {
  const res = await s.api('POST', '/api/campaigns/tick');
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

test('a campaign spec is validated by core: errors name the field; the release must exist and be approved', async () => {
  const lab = { selector: { device_ids: [`dev-${'0'.repeat(20)}`] } };
  const bad = spec(lab);
  bad.waves[1].percent = 0;
  const body = await expectProblem(assert, await create(bad), 400, 'invalid-campaign');
  assert.match(body.detail, /waves\[1\]\.percent/);

  const typo = spec(lab);
  typo.waves[0].min_soak_minute = 5;
  assert.match((await expectProblem(assert, await create(typo), 400, 'invalid-campaign')).detail, /waves\[0\]\.min_soak_minute/);

  const unstaged = await create(spec());
  assert.match((await expectProblem(assert, unstaged, 400, 'invalid-campaign')).detail, /waves\[0\]\.percent.*staging group/);
  await expectProblem(assert, await create(spec({ ...lab, release_id: 'rel-0000000000000000' })), 422, 'unknown-release');
  await expectProblem(assert, await create(spec({ ...lab, release_id: thermo.id })), 422, 'release-not-approved');
});

let campaign; // the thermostat campaign
let staged; // in its staging group
let staged2;
let outsider; // not staged

test('created as a draft with a generated salt; its creator cannot approve it (two-person rule)', async () => {
  assert.equal((await s.api('POST', `/api/releases/${thermo.id}/approve`, { token: s.tokens.approver })).status, 200);
  assert.equal((await s.api('POST', `/api/releases/${lamp.id}/approve`, { token: s.tokens.approver })).status, 200);
  staged = enroll('acme-thermostat');
  staged2 = enroll('acme-thermostat');
  outsider = enroll('acme-thermostat');
  // Before any campaign, the baseline offers the approved release.
  assert.equal((await check(outsider)).action.type, 'update');

  const res = await create(spec({ selector: { device_ids: [staged.id, staged2.id] } }), s.tokens.admin);
  assert.equal(res.status, 201, await res.clone().text());
  campaign = await res.json();
  assert.match(campaign.id, /^cmp-[0-9a-f]{16}$/);
  assert.equal(campaign.state.state, 'draft');
  const st = await status(campaign.id);
  assert.ok(st.spec.salt.length >= 16);

  await expectProblem(assert, await act(campaign.id, 'approve', s.tokens.admin), 403, 'two-person-rule');
  await expectProblem(assert, await act(campaign.id, 'start'), 409, 'illegal-campaign-transition');
  // A draft does not count: the baseline still offers.
  assert.equal((await check(outsider)).action.type, 'update');

  const ok = await act(campaign.id, 'approve', s.tokens.approver);
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.equal((await ok.json()).state.state, 'approved');
  // Approved: the product is now under campaigns, and this one has not started.
  assert.equal((await check(staged)).action.type, 'none');
});

test('start, pause, resume: each through core transition; illegal ones are 409; every one is audited', async () => {
  await expectProblem(assert, await act(campaign.id, 'pause'), 409, 'illegal-campaign-transition');
  assert.equal((await (await act(campaign.id, 'start')).json()).state.state, 'running');
  assert.equal((await (await act(campaign.id, 'pause')).json()).state.state, 'paused');
  assert.equal((await check(staged)).action.type, 'none');
  await expectProblem(assert, await act(campaign.id, 'start'), 409, 'illegal-campaign-transition');
  assert.equal((await (await act(campaign.id, 'resume')).json()).state.state, 'running');

  const st = await status(campaign.id);
  assert.deepEqual(st.history.map((h) => h.action), ['campaign.create', 'campaign.approve', 'campaign.start', 'campaign.pause', 'campaign.resume']);
  const audit = await (await s.api('GET', '/api/audit?limit=500', { token: s.tokens.viewer })).json();
  assert.ok(audit.entries.some((e) => e.action === 'campaign.resume' && e.subject === campaign.id && e.actor !== 'cron'));
});

let offered;

test('only the running wave\'s cohort is offered, and max_in_flight holds fleet-wide with a signed backoff', async () => {
  // Wave 0 is the staging group only.
  const out = await check(outsider);
  assert.equal(out.action.type, 'none');
  assert.equal(out.poll_after_s, 3600);

  offered = await check(staged);
  assert.equal(offered.action.type, 'update');
  assert.equal(offered.action.campaign_id, campaign.id);
  assert.ok(offered.action.deadline > offered.issued_at);

  // The budget allows one in flight: the other staged device waits, told so in a signed directive.
  const waiting = await check(staged2);
  assert.equal(waiting.action.type, 'none');
  assert.equal(waiting.poll_after_s, 120);

  // Asking again resumes the same update, with the same deadline, spending nothing.
  const again = await check(staged);
  assert.equal(again.action.type, 'update');
  assert.equal(again.action.deadline, offered.action.deadline);

  const st = await status(campaign.id);
  assert.equal(st.waves[0].counters.started, 1);
  assert.equal(st.waves[0].counters.in_flight, 1);
  assert.equal(st.waves[0].counters.offered, 2);
});

test('reports finish attempts once (a resent report counts nothing), freeing the budget', async () => {
  const first = await report(staged, { state: 'succeeded' }, { campaign: campaign.id, sha256: thermo.sha256, running: '1.2.0' });
  assert.equal(first.ack.accepted, 1);
  const resent = await report(staged, { state: 'succeeded' }, { campaign: campaign.id, sha256: thermo.sha256, running: '1.2.0', reportSeq: first.seq });
  assert.deepEqual(resent.ack, { accepted: 0, duplicates: 1 });

  let st = await status(campaign.id);
  assert.equal(st.waves[0].counters.succeeded, 1);
  assert.equal(st.waves[0].counters.in_flight, 0);
  assert.equal(st.waves[0].failure_rate, 0);
  // Nothing was rolled back: no mean time to recovery, for the wave or the campaign.
  assert.equal(st.waves[0].mean_time_to_recovery_s, null);
  assert.equal(st.campaign_mttr_s, null);
  assert.ok(st.waves[0].failure_rate_upper_bound > 0 && st.waves[0].failure_rate_upper_bound < 0.9);
  assert.equal(st.waves[0].gate_max_failure_rate, 0.9);
  assert.equal(st.waves[0].verdict.verdict, 'pass');

  // A device that finished is never offered the campaign again.
  assert.equal((await check(staged)).action.type, 'none');
  // The freed slot goes to the waiting staged device.
  assert.equal((await check(staged2)).action.type, 'update');
  await report(staged2, { state: 'succeeded' }, { campaign: campaign.id, sha256: thermo.sha256, running: '1.2.0' });
  st = await status(campaign.id);
  assert.equal(st.waves[0].counters.succeeded, 2);
  assert.ok(st.adoption.on_release >= 2);
});

test('the tick advances a wave whose soak and gate passed, then completes the campaign', async () => {
  const t = await tickNow();
  const mine = t.campaigns.find((c) => c.id === campaign.id);
  assert.equal(mine.change.kind, 'advanced');
  assert.deepEqual(mine.state, { state: 'running', wave: 1, since: mine.state.since });
  // Wave 1 is everyone: the outsider is offered now.
  const out = await check(outsider);
  assert.equal(out.action.type, 'update');
  assert.equal(out.action.campaign_id, campaign.id);
  await report(outsider, { state: 'succeeded' }, { campaign: campaign.id, sha256: thermo.sha256, running: '1.2.0' });
  const done = (await tickNow()).campaigns.find((c) => c.id === campaign.id);
  assert.equal(done.change.kind, 'completed');
  const st = await status(campaign.id);
  assert.equal(st.campaign.state.state, 'completed');
  assert.ok(st.history.some((h) => h.action === 'campaign.advance' && h.actor === 'bootstrap'));

  const series = await (await s.api('GET', `/api/campaigns/${campaign.id}/series`, { token: s.tokens.viewer })).json();
  const sum = (k) => series.series.reduce((a, p) => a + p[k], 0);
  assert.equal(sum('started'), 3);
  assert.equal(sum('succeeded'), 3);
  assert.equal(sum('offered'), 3);
});

test('a failing gate halts the campaign and orders rollback; devices on the release are sent back to their previous image', async () => {
  const res = await create({
    name: 'lamp 2.0',
    release_id: lamp.id,
    waves: [{ name: 'canary', percent: 100, gate: { min_finished: 2, max_failure_rate: 0.05, on_fail: 'halt_and_rollback' } }],
    budgets: { max_starts_per_minute: 100, max_in_flight: 10 },
    deadline_s: 3600,
  });
  assert.equal(res.status, 201, await res.clone().text());
  const bad = await res.json();
  assert.equal((await act(bad.id, 'approve', s.tokens.approver)).status, 200);
  assert.equal((await act(bad.id, 'start')).status, 200);

  const broken = enroll('acme-lamp');
  const updated = enroll('acme-lamp');
  assert.equal((await check(broken)).action.type, 'update');
  assert.equal((await check(updated)).action.type, 'update');
  await report(broken, { state: 'failed', code: 'health-check-failed' }, { campaign: bad.id, sha256: lamp.sha256 });
  await report(updated, { state: 'succeeded' }, { campaign: bad.id, sha256: lamp.sha256, running: '2.0.0' });

  const t = (await tickNow()).campaigns.find((c) => c.id === bad.id);
  assert.equal(t.change.kind, 'halted');
  assert.equal(t.change.rollback, true);
  const st = await status(bad.id);
  assert.deepEqual(st.campaign.state, { state: 'halted', wave: 0, rollback: true });
  assert.equal(st.waves[0].verdict.verdict, 'fail');
  // A failed update is not a recovery: MTTR counts rolled_back reports only.
  assert.equal(st.waves[0].counters.recovered, 0);
  assert.equal(st.waves[0].mean_time_to_recovery_s, null);
  assert.ok(st.history.some((h) => h.action === 'campaign.halt'));

  // The device running the halted release is ordered back to the image it ran when offered.
  const back = await check(updated, { current: { version: '2.0.0', sha256: lamp.sha256, security_version: 1 } });
  assert.equal(back.action.type, 'rollback');
  assert.equal(back.action.to_sha256, FACTORY.sha256);
  assert.equal(back.action.campaign_id, bad.id, 'the order names its campaign');
  // The device reports the rollback under that campaign, which counts it (and its time to recover).
  await report(updated, { state: 'rolled_back', code: 'ordered' }, { campaign: bad.id, sha256: FACTORY.sha256, running: FACTORY.version });
  const counted = await status(bad.id);
  assert.equal(counted.waves[0].counters.rolled_back, 1);
  assert.equal(counted.waves[0].counters.recovered, 1);
  // The device whose update failed runs its old image: nothing to do.
  assert.equal((await check(broken)).action.type, 'none');
  // Halted is final for offers; an operator may still cancel.
  await expectProblem(assert, await act(bad.id, 'resume'), 409, 'illegal-campaign-transition');
  assert.equal((await (await act(bad.id, 'cancel')).json()).state.state, 'cancelled');
});

test('an operator\'s rollback of a completed campaign orders its devices back', async () => {
  const res = await act(campaign.id, 'rollback');
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual((await res.json()).state, { state: 'halted', wave: 1, rollback: true });
  const back = await check(outsider, { current: { version: '1.2.0', sha256: thermo.sha256, security_version: 1 } });
  assert.equal(back.action.type, 'rollback');
  assert.equal(back.action.to_sha256, FACTORY.sha256);
});

test('a geographic selector uses request.cf of the check', async () => {
  const west = makeRelease(s.dir, { version: '1.3.0', size: 2048 });
  west.id = await publish(west);
  assert.equal((await s.api('POST', `/api/releases/${west.id}/approve`, { token: s.tokens.approver })).status, 200);
  const res = await create({ ...spec({ release_id: west.id, name: 'west first' }), selector: { regions: ['west'] },
    waves: [{ name: 'west', percent: 100, gate: { min_finished: 1, max_failure_rate: 0.9 } }], budgets: { max_starts_per_minute: 100, max_in_flight: 100 } });
  assert.equal(res.status, 201, await res.clone().text());
  const c = await res.json();
  assert.equal((await act(c.id, 'approve', s.tokens.approver)).status, 200);
  assert.equal((await act(c.id, 'start')).status, 200);
  const d = enroll('acme-thermostat');
  assert.equal((await check(d, { cf: { country: 'US', regionCode: 'TX', timezone: 'America/Chicago' } })).action.type, 'none');
  const out = await check(d, { cf: { country: 'US', regionCode: 'CA', timezone: 'America/Los_Angeles' } });
  assert.equal(out.action.type, 'update');
  assert.equal(out.action.campaign_id, c.id);
});

test('the fleet distribution counts devices by version, hardware and U.S. region', async () => {
  const fleet = await (await s.api('GET', '/api/fleet', { token: s.tokens.viewer })).json();
  assert.ok(fleet.devices >= 6);
  const row = fleet.by.find((r) => r.product === 'acme-thermostat' && r.running_version === '1.2.0');
  assert.equal(row.hardware_id, 'thermo-v2');
  // Miniflare's request.cf places every enrollment in Texas.
  assert.equal(row.region, 'central');
  assert.equal(row.devices, 3);
  assert.ok(fleet.by.some((r) => r.product === 'acme-lamp' && r.hardware_id === 'lamp-v1'));
  const list = await (await s.api('GET', '/api/campaigns', { token: s.tokens.viewer })).json();
  assert.equal(list.length, 3);
});

test('never_offers_a_second_campaign_while_one_is_in_flight', async () => {
  // A product of its own, so the campaigns above do not interfere.
  const product = 'acme-fan';
  const res = await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: product, product, max_uses: 10 } });
  tokens[product] = { token: (await res.json()).token, hw: 'fan-v1' };
  const older = makeRelease(s.dir, { version: '1.0.0', product, hardware: ['fan-v1'], size: 2048 });
  older.id = await publish(older);
  const newer = makeRelease(s.dir, { version: '1.1.0', product, hardware: ['fan-v1'], size: 2048 });
  newer.id = await publish(newer);
  for (const r of [older, newer]) assert.equal((await s.api('POST', `/api/releases/${r.id}/approve`, { token: s.tokens.approver })).status, 200);
  const everyone = (name, releaseId, priority) => ({
    name, release_id: releaseId, priority,
    waves: [{ name: 'everyone', percent: 100, gate: { min_finished: 1, max_failure_rate: 0.9 } }],
    budgets: { max_starts_per_minute: 100, max_in_flight: 100 },
    deadline_s: 3600,
  });
  const launch = async (body) => {
    const created = await create(body);
    assert.equal(created.status, 201, await created.clone().text());
    const c = await created.json();
    assert.equal((await act(c.id, 'approve', s.tokens.approver)).status, 200);
    assert.equal((await act(c.id, 'start')).status, 200);
    return c;
  };

  const a = await launch(everyone('fan 1.0', older.id, 0));
  const d = enroll(product);
  const first = await check(d);
  assert.equal(first.action.type, 'update');
  assert.equal(first.action.campaign_id, a.id);

  // B starts while A's update is in flight (no report yet): higher priority, newer release, everyone.
  const b = await launch(everyone('fan 1.1', newer.id, 10));
  for (let i = 0; i < 2; i++) {
    const again = await check(d);
    if (again.action.type === 'update') {
      assert.equal(again.action.campaign_id, a.id, 'a second campaign was offered while the first is in flight');
      assert.equal(again.action.deadline, first.action.deadline);
    } else {
      assert.equal(again.action.type, 'none');
    }
  }
  const bStatus = await status(b.id);
  assert.equal(bStatus.waves[0].counters.started, 0);
  assert.equal(bStatus.waves[0].counters.in_flight, 0);
  assert.equal((await status(a.id)).waves[0].counters.started, 1);

  // Once A's update has succeeded, B may offer its newer release.
  await report(d, { state: 'succeeded' }, { campaign: a.id, sha256: older.sha256, running: '1.0.0' });
  const next = await check(d, { current: { version: '1.0.0', sha256: older.sha256, security_version: 1 } });
  assert.equal(next.action.type, 'update');
  assert.equal(next.action.campaign_id, b.id);
});
