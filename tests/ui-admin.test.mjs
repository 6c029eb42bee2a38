// The admin web UI in a real browser (Debian's chromium through playwright-core)
// against the built worker and admin-ui/dist in Miniflare: sign-in, a release
// uploaded by one person and approved by another, a campaign created in the
// form, approved and started, followed live while a simulated fleet of real
// agents updates, a bad release halted by its gate, role restrictions (hidden
// controls, and the API refusing anyway), the fleet and device views, and the
// audit log verified in the browser. Screenshots go to tests/output/ui/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { tempDir } from './helpers/cli.mjs';
import { AGENT } from './helpers/agent.mjs';
import { launch, openPage, go, shot, signIn, PHONE } from './helpers/ui.mjs';

const FLEET = 40;
const fleetDir = tempDir('ui-fleet-');
let s;
let browser;
let enrollToken;
const pages = [];
const rel = {};
let goodCampaign;
let badCampaign;

async function page(opts) {
  const p = await openPage(browser, s.edge.url, opts);
  pages.push(p);
  return p;
}

before(async () => {
  s = await readyEdge({ unlimited: true });
  browser = await launch();
  const t = await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'ui fleet', product: 'acme-thermostat', max_uses: 1000 } });
  enrollToken = (await t.json()).token;
});

after(async () => {
  await browser?.close();
  await s?.stop();
});

/** Waits until the text of `testid` in `page` matches `re` (the page polls by itself; no reload). */
async function waitText(p, testid, re, timeout = 60_000) {
  await p.waitForFunction(
    ([id, src]) => new RegExp(src).test(document.querySelector(`[data-testid="${id}"]`)?.textContent ?? ''),
    [testid, re.source],
    { timeout },
  );
}

async function campaignStatus(id) {
  const res = await s.api('GET', `/api/campaigns/${id}`, { token: s.tokens.viewer });
  assert.equal(res.status, 200);
  return res.json();
}

/** Runs the simulated fleet, ticking the rollout every 500 ms, until `stopWhen(status)` or the fleet exits. */
async function runFleet(args, campaignId, stopWhen, onStatus = async () => {}) {
  const child = spawn(AGENT, ['simulate', '--server', s.edge.url, '--trust-anchor', s.rootPath, '--enroll-token', enrollToken,
    '--devices', String(FLEET), '--dir', fleetDir, '--key-seed', '21', '--seed', '21', '--threads', '8', '--poll-s', '1',
    '--no-battery', '--json', ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let done = false;
  const exited = new Promise((resolve) => child.on('close', () => resolve((done = true))));
  let stopped = false;
  while (!done) {
    await new Promise((r) => setTimeout(r, 500));
    await s.api('POST', '/api/campaigns/tick');
    const st = await campaignStatus(campaignId);
    await onStatus(st);
    if (!stopped && stopWhen(st)) {
      stopped = true;
      child.kill('SIGINT');
    }
  }
  await exited;
  return { summary: stdout ? JSON.parse(stdout) : null, stderr };
}

test('the worker serves the UI at / with a same-origin CSP, and the API and device routes still answer', async () => {
  const res = await s.edge.fetch('/');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/html/);
  assert.match(res.headers.get('content-security-policy'), /default-src 'self'.*connect-src 'self'/);
  assert.match(await res.text(), /<div id="app">/);
  assert.equal((await (await s.edge.fetch('/healthz')).json()).status, 'ok');
  assert.equal((await s.edge.fetch('/api/releases')).status, 401);
  assert.equal((await s.edge.fetch('/v1/root/1.json')).status, 200);
  const missing = await s.edge.fetch('/no-such-page');
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get('content-type'), 'application/problem+json');
});

test('sign-in: a wrong token is refused; the token lives in sessionStorage, never in a URL', async () => {
  const p = await page();
  await shot(p, 'sign-in');
  await p.getByLabel('API token').fill('updt_not-a-real-token');
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByText('That token is unknown or revoked.').waitFor();
  await signIn(p, s.tokens.viewer);
  assert.match(await p.getByTestId('whoami').textContent(), /viewer person · viewer/);
  assert.equal(await p.evaluate(() => sessionStorage.getItem('updraft.token')), s.tokens.viewer);
  assert.ok(!p.url().includes(s.tokens.viewer));
  assert.equal(await p.evaluate(() => localStorage.length), 0);
  // A reload keeps the session (same tab); signing out forgets the token.
  await p.reload();
  await p.getByTestId('whoami').waitFor();
  await p.getByRole('button', { name: 'Sign out' }).click();
  await p.getByLabel('API token').waitFor();
  assert.equal(await p.evaluate(() => sessionStorage.getItem('updraft.token')), null);
});

test('an uploader uploads a signed release with a progress bar; another person approves it; the uploader cannot', async () => {
  rel.good = makeRelease(s.dir, { version: '1.1.0', securityVersion: 2, size: 600_000 });
  const up = await page({ token: s.tokens.uploader });
  await go(up, '#/releases');
  await up.locator('input[name=envelope]').setInputFiles(rel.good.manifestPath);
  await up.locator('input[name=firmware]').setInputFiles(rel.good.firmware);
  await up.getByTestId('upload-check').getByText('matches the manifest').waitFor();
  await up.getByRole('button', { name: 'Upload release' }).click();
  await up.getByText(/Published acme-thermostat 1\.1\.0 as rel-/).waitFor();
  assert.equal(await up.locator('#upload-progress').getAttribute('value'), '100');
  const row = up.locator('tr', { hasText: 'acme-thermostat 1.1.0' });
  await row.getByText('pending').waitFor();
  assert.match(await row.textContent(), /1 valid/);
  // The uploader role has no approve control at all.
  assert.equal(await up.getByRole('button', { name: 'Approve' }).count(), 0);
  await shot(up, 'releases-uploaded');

  // A wrong firmware file is caught in the browser before anything is sent.
  rel.other = makeRelease(s.dir, { version: '1.1.1', size: 1000 });
  await up.locator('input[name=firmware]').setInputFiles(rel.other.firmware);
  await up.getByText(/wrong firmware file/).waitFor();
  assert.ok(await up.getByRole('button', { name: 'Upload release' }).isDisabled());

  const list = await (await s.api('GET', '/api/releases', { token: s.tokens.viewer })).json();
  rel.good.id = list.find((r) => r.version === '1.1.0').id;

  // Two-person rule: an admin token (which may approve) that uploaded a release sees no Approve button for it,
  // and the API refuses it anyway.
  rel.adminUploaded = makeRelease(s.dir, { version: '1.1.5', securityVersion: 2, size: 2048 });
  assert.equal((await s.api('PUT', `/api/artifacts/${rel.adminUploaded.sha256}`, { body: rel.adminUploaded.bytes })).status, 201);
  rel.adminUploaded.id = (await (await s.api('POST', '/api/releases', { body: rel.adminUploaded.envelope })).json()).id;
  const admin = await page({ token: s.tokens.admin });
  await go(admin, '#/releases');
  const mine = admin.locator(`tr[data-release="${rel.adminUploaded.id}"]`);
  await mine.getByTestId('two-person').waitFor();
  assert.equal(await mine.getByRole('button', { name: 'Approve' }).count(), 0);
  const refused = await s.api('POST', `/api/releases/${rel.adminUploaded.id}/approve`);
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).type, 'urn:updraft:problem:two-person-rule');

  const ap = await page({ token: s.tokens.approver });
  await go(ap, '#/releases');
  const good = ap.locator(`tr[data-release="${rel.good.id}"]`);
  await good.getByRole('button', { name: 'Approve' }).click();
  await good.getByText('approved', { exact: true }).waitFor();
  await shot(ap, 'releases');
});

test('an operator creates a campaign in the form (fields checked, the edge\'s error named), the approver approves it, the operator starts it', async () => {
  const op = await page({ token: s.tokens.operator });
  await go(op, '#/campaigns');
  await op.getByRole('link', { name: 'New campaign' }).click();
  await op.getByLabel('Name', { exact: true }).fill('thermostat 1.1.0');
  await op.locator('select[name=release_id]').selectOption(rel.good.id);
  await op.getByLabel('Hardware ids').fill('thermo-v2');
  // The template's defaults: four waves, windows 01:00–05:00, battery 30 %, wifi and ethernet.
  assert.equal(await op.getByLabel('Wave 4 percent').inputValue(), '100');
  await op.getByRole('button', { name: 'Remove wave 4' }).click();
  await op.getByRole('button', { name: 'Remove wave 3' }).click();
  // A 0 % wave without a staging group is refused here, naming the field.
  await op.getByLabel('Wave 1 percent').fill('0');
  await op.getByRole('button', { name: 'Create draft campaign' }).click();
  await op.getByTestId('form-errors').getByText('waves[0].percent').waitFor();
  await op.getByLabel('Wave 1 percent').fill('25');
  await op.getByLabel('Wave 2 percent').fill('100');
  for (const [wave, soak, minFinished, maxPct] of [[1, '0', '2', '50'], [2, '0', '10', '30']]) {
    await op.getByLabel(`Wave ${wave} soak minutes`).fill(soak);
    await op.getByLabel(`Wave ${wave} minimum finished`).fill(minFinished);
    await op.getByLabel(`Wave ${wave} maximum failure percent`).fill(maxPct);
    await op.getByLabel(`Wave ${wave} confidence z`).fill('1');
  }
  await op.getByLabel('Wave 1 name').fill('canary');
  await op.getByLabel('Wave 2 name').fill('everyone');
  await op.locator('input[name=windows_on]').uncheck();
  await op.getByLabel('Minimum battery %').fill('');
  await op.locator('input[name=net-wifi]').uncheck();
  await op.locator('input[name=net-ethernet]').uncheck();
  await op.getByLabel('Max starts per minute').fill('1000');
  await op.getByLabel('Max in flight').fill('1000');
  await op.getByLabel('Deadline (hours)').fill('0.2');
  await op.getByLabel('Cohort salt').fill('ui-test-good-release-salt');
  // The edge validates with core's parse_spec; its error names the field.
  await op.getByLabel('Current version range').fill('not a range');
  await op.getByRole('button', { name: 'Create draft campaign' }).click();
  await op.getByText(/selector\.current_version/).waitFor();
  await op.getByLabel('Current version range').fill('>=1.0.0, <1.1.0');
  await shot(op, 'campaign-new');
  await op.getByRole('button', { name: 'Create draft campaign' }).click();
  await op.waitForURL(/#\/campaigns\/cmp-[0-9a-f]{16}$/);
  goodCampaign = op.url().split('/').pop();
  await waitText(op, 'campaign-state', /^draft$/);
  // The creator's role cannot approve; it sees no Approve button.
  assert.equal(await op.getByRole('button', { name: 'Approve', exact: true }).count(), 0);

  const ap = await page({ token: s.tokens.approver });
  await go(ap, `#/campaigns/${goodCampaign}`);
  await ap.getByRole('button', { name: 'Approve', exact: true }).click();
  await waitText(ap, 'campaign-state', /^approved$/);
  // An approver may not operate a campaign: no Start.
  assert.equal(await ap.getByRole('button', { name: 'Start' }).count(), 0);

  await op.evaluate(() => (window.__noReload = true));
  await waitText(op, 'campaign-state', /^approved$/);
  await op.getByRole('button', { name: 'Start' }).click();
  await waitText(op, 'campaign-state', /^running · wave 1 \(canary\)$/);
  const st = await campaignStatus(goodCampaign);
  assert.equal(st.spec.selector.current_version, '>=1.0.0, <1.1.0');
  assert.deepEqual(st.spec.waves.map((w) => [w.name, w.percent, w.gate.min_finished]), [['canary', 25, 2], ['everyone', 100, 10]]);
  assert.equal(st.spec.windows, undefined);
  goodCampaign = { id: goodCampaign, page: op };
});

test('the campaign page follows the rollout live (no reload) while a simulated fleet updates, until it completes', async () => {
  const op = goodCampaign.page;
  let liveShot = false;
  const { summary, stderr } = await runFleet(['--until-version', '1.1.0', '--max-seconds', '120'], goodCampaign.id, () => false, async (st) => {
    const w = st.waves[1]?.counters;
    if (!liveShot && st.campaign.state.state === 'running' && st.campaign.state.wave === 1 && w.succeeded >= 5) {
      liveShot = true;
      await waitText(op, 'campaign-state', /wave 2 \(everyone\)/, 10_000);
      await shot(op, 'campaign-live');
    }
  });
  assert.equal(summary?.versions?.['1.1.0'], FLEET, stderr.slice(-2000));
  await s.api('POST', '/api/campaigns/tick');
  assert.equal((await campaignStatus(goodCampaign.id)).campaign.state.state, 'completed');
  await waitText(op, 'campaign-state', /^completed$/, 20_000);
  assert.equal(await op.evaluate(() => window.__noReload), true, 'the page was not reloaded');
  await waitText(op, 'adoption', new RegExp(`^${FLEET} of ${FLEET} devices`), 20_000);
  assert.match(await op.getByTestId('waves').textContent(), /gate passed/);
  assert.equal(await op.locator('[data-testid=campaign-chart] canvas').count(), 1);
  assert.match(await op.getByTestId('history').textContent(), /campaign\.complete/);
  if (!liveShot) await shot(op, 'campaign-live');
  await shot(op, 'campaign-completed');
});

test('a release failing half its boots halts at its gate; the page shows the halt and the rollback; cancel asks for the id typed back', async () => {
  rel.bad = makeRelease(s.dir, { version: '1.2.0', securityVersion: 2, size: 4096, marker: 'UPDRAFT-SIM-BOOT-FAILURE-RATE=0.50' });
  assert.equal((await s.api('PUT', `/api/artifacts/${rel.bad.sha256}`, { token: s.tokens.uploader, body: rel.bad.bytes })).status, 201);
  rel.bad.id = (await (await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: rel.bad.envelope })).json()).id;
  assert.equal((await s.api('POST', `/api/releases/${rel.bad.id}/approve`, { token: s.tokens.approver })).status, 200);
  const gate = (min_finished, max_failure_rate) => ({ min_finished, max_failure_rate, confidence_z: 1, on_fail: 'halt_and_rollback' });
  const created = await s.api('POST', '/api/campaigns', { token: s.tokens.operator, body: {
    name: 'thermostat 1.2.0', release_id: rel.bad.id, selector: { hardware_ids: ['thermo-v2'] },
    waves: [{ name: 'canary', percent: 25, gate: gate(4, 0.2) }, { name: 'everyone', percent: 100, gate: gate(10, 0.2) }],
    budgets: { max_starts_per_minute: 1000, max_in_flight: 1000 }, deadline_s: 600, auto_advance: true, salt: 'ui-test-bad-release-salt',
  } });
  assert.equal(created.status, 201, await created.clone().text());
  badCampaign = (await created.json()).id;
  assert.equal((await s.api('POST', `/api/campaigns/${badCampaign}/approve`, { token: s.tokens.approver })).status, 200);

  const op = await page({ token: s.tokens.operator });
  await go(op, `#/campaigns/${badCampaign}`);
  await op.getByRole('button', { name: 'Start' }).click();
  await waitText(op, 'campaign-state', /^running/);
  let haltedAt;
  await runFleet(['--max-seconds', '60'], badCampaign, (st) => {
    if (st.campaign.state.state === 'halted' && !haltedAt) haltedAt = Date.now();
    return haltedAt && Date.now() - haltedAt > 5000;
  });
  const st = await campaignStatus(badCampaign);
  assert.equal(st.campaign.state.state, 'halted');
  assert.equal(st.campaign.state.rollback, true);
  await waitText(op, 'campaign-state', /^halted in wave \d · rollback ordered$/, 20_000);
  assert.match(await op.getByTestId('waves').textContent(), /gate failed/);
  assert.match(await op.getByTestId('history').textContent(), /campaign\.halt/);
  await shot(op, 'campaign-halted');

  // Cancel is confirmed by typing the campaign id back.
  await op.getByRole('button', { name: 'Cancel…' }).click();
  const dialog = op.getByRole('dialog');
  const confirm = dialog.getByRole('button', { name: 'Cancel campaign' });
  await dialog.getByLabel(/Type .* to confirm/).fill('cmp-wrong');
  assert.ok(await confirm.isDisabled());
  await dialog.getByLabel(/Type .* to confirm/).fill(badCampaign);
  await confirm.click();
  await waitText(op, 'campaign-state', /^cancelled$/);
  assert.equal((await campaignStatus(badCampaign)).campaign.state.state, 'cancelled');
});

test('a viewer sees no action controls anywhere, and the API refuses those actions anyway', async () => {
  const v = await page({ token: s.tokens.viewer });
  await go(v, '#/releases');
  await v.getByTestId('releases').waitFor();
  assert.equal(await v.locator('input[name=envelope]').count(), 0, 'no upload form');
  assert.equal(await v.getByRole('button', { name: 'Approve' }).count(), 0);
  await go(v, '#/campaigns');
  await v.getByTestId('campaigns').waitFor();
  assert.equal(await v.getByRole('link', { name: 'New campaign' }).count(), 0);
  await go(v, `#/campaigns/${goodCampaign.id}`);
  await waitText(v, 'campaign-state', /completed/);
  assert.equal(await v.getByRole('group', { name: 'Campaign actions' }).count(), 0);
  await go(v, '#/fleet');
  await v.getByTestId('devices').locator('a').first().click();
  await v.getByTestId('reports').waitFor();
  assert.equal(await v.getByRole('button', { name: /Revoke/ }).count(), 0);
  await go(v, '#/campaigns/new');
  await v.getByText(/cannot create campaigns/).waitFor();

  const me = await (await s.api('GET', '/api/me', { token: s.tokens.viewer })).json();
  assert.equal(me.role, 'viewer');
  assert.ok(Object.entries(me.may).every(([k, allowed]) => allowed === (k === 'read_revocations' && me.may.read_revocations)), JSON.stringify(me.may));
  for (const [method, path] of [
    ['POST', `/api/releases/${rel.adminUploaded.id}/approve`],
    ['POST', `/api/campaigns/${goodCampaign.id}/rollback`],
    ['POST', '/api/campaigns'],
    ['PUT', `/api/artifacts/${rel.good.sha256}`],
  ]) {
    const res = await s.api(method, path, { token: s.tokens.viewer, body: method === 'PUT' ? new Uint8Array(1) : '{}' });
    assert.equal(res.status, 403, `${method} ${path}`);
  }
});

test('the fleet view shows devices by version, hardware and region with liveness; a device shows its versions and reports', async () => {
  const p = await page({ token: s.tokens.operator });
  await go(p, '#/fleet');
  await waitText(p, 'count-total', new RegExp(`^${FLEET}$`));
  assert.equal(await p.getByTestId('count-online').textContent(), String(FLEET));
  const text = await p.locator('main').textContent();
  assert.match(text, /acme-thermostat 1\.1\.0/);
  assert.match(text, /thermo-v2/);
  assert.match(text, /Central/); // Miniflare's request.cf places every enrollment in Texas
  await shot(p, 'fleet');
  await p.getByTestId('devices').locator('a').first().click();
  await p.getByTestId('reports').waitFor();
  const reports = await p.getByTestId('reports').textContent();
  assert.match(reports, /succeeded/);
  assert.match(await p.locator('ol.timeline').textContent(), /1\.0\.0[\s\S]*1\.1\.0/);
  // Times show in the operator's zone, UTC on hover.
  assert.match(await p.locator('time').first().getAttribute('title'), / UTC$/);
  await shot(p, 'device');
});

test('the audit log verifies its hash chain in the browser, filters by action, and exports NDJSON', async () => {
  const p = await page({ token: s.tokens.viewer });
  await go(p, '#/audit');
  await waitText(p, 'chain-status', /Chain verified in this browser: \d+ entries/);
  const all = [];
  for (let after = 0; ;) {
    const page = await (await s.api('GET', `/api/audit?after_seq=${after}&limit=500`, { token: s.tokens.viewer })).json();
    all.push(...page.entries);
    if (page.next_after_seq === null) break;
    after = page.next_after_seq;
  }
  const head = all[all.length - 1];
  assert.match(await p.getByTestId('chain-status').textContent(), new RegExp(`${head.seq} entries`));
  await p.locator('select[name=action]').selectOption('campaign');
  const rows = p.getByTestId('audit').locator('tbody tr');
  const campaignEntries = all.filter((e) => e.action.startsWith('campaign.')).length;
  await waitText(p, 'audit-count', new RegExp(`^${Math.min(campaignEntries, 10_000)} of ${all.length} entries`));
  for (const action of await rows.locator('td:nth-child(4)').allTextContents()) assert.match(action, /^campaign\./);
  await shot(p, 'audit');
  const [download] = await Promise.all([p.waitForEvent('download'), p.getByRole('button', { name: 'Export (NDJSON)' }).click()]);
  const lines = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.length >= all.length);
  assert.equal(lines[head.seq - 1].hash, head.hash);
});

test('a tampered entry is reported as a broken chain, naming the entry', async () => {
  // Edit a stored entry's details behind the API's back, as an attacker with D1 access would.
  await s.edge.db.prepare("UPDATE audit_log SET details = '{\"name\":\"evil\"}' WHERE seq = 3").run();
  const p = await page({ token: s.tokens.viewer });
  await go(p, '#/audit');
  await waitText(p, 'chain-status', /Chain broken at entry 3/);
});

test('phone width (390 px): the main views fit without sideways scrolling', async () => {
  const p = await page({ token: s.tokens.operator, viewport: PHONE });
  for (const [route, name] of [['#/fleet', 'phone-fleet'], [`#/campaigns/${goodCampaign.id}`, 'phone-campaign'], ['#/releases', null], ['#/audit', null], ['#/campaigns/new', null]]) {
    await go(p, route);
    await p.locator('main h1').waitFor();
    await p.waitForTimeout(300);
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `${route} overflows by ${overflow}px`);
    if (name) await shot(p, name);
  }
});

test('keyboard: the sign-in form and the navigation work without a mouse', async () => {
  const p = await page();
  await p.keyboard.press('Tab');
  assert.equal(await p.evaluate(() => document.activeElement?.getAttribute('name')), 'token');
  await p.keyboard.type(s.tokens.operator);
  await p.keyboard.press('Enter');
  await p.getByTestId('whoami').waitFor();
  await p.keyboard.press('Tab'); // skip link
  assert.equal(await p.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  await p.keyboard.press('Tab'); // brand
  await p.keyboard.press('Tab'); // Fleet
  await p.keyboard.press('Tab'); // Releases
  await p.keyboard.press('Enter');
  await p.waitForURL(/#\/releases$/);
  await p.getByRole('heading', { level: 1, name: 'Releases' }).waitFor();
});

test('no page asked another origin for anything, and none logged an error', async () => {
  for (const p of pages) {
    assert.deepEqual(p.foreign, [], 'requests to other origins');
    // The 401 of the wrong-token sign-in and the 400 of the invalid spec are answers the tests provoke, not script errors.
    assert.deepEqual(p.errors.filter((e) => !/Failed to load resource: the server responded with a status of (400|401|403|404|409)/.test(e)), []);
  }
});
