// `updraft campaign …` (the real CLI) against the real worker in Miniflare
// (DESIGN §4): a campaign created from a spec file (validated locally first),
// approved by another person than its creator, started, read back with
// `status --json`, paused and resumed, cancelled while `status --watch` runs
// (which then exits 1), and a second campaign advanced to completion while
// `status --watch` runs (which then exits 0).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { UPDRAFT } from './helpers/cli.mjs';

let s;
let releaseId;

/** Runs `updraft ARGS` with TOKEN (a role name of s.tokens) against the test edge. */
function cli(args, role) {
  const env = { ...process.env, UPDRAFT_TOKEN: s.tokens[role], UPDRAFT_SERVER: s.edge.url };
  const r = spawnSync(UPDRAFT, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
}

/** Starts `updraft ARGS` in the background; resolves with its exit when it ends (or fails after `ms`). */
function background(args, role, ms = 30_000) {
  const env = { ...process.env, UPDRAFT_TOKEN: s.tokens[role], UPDRAFT_SERVER: s.edge.url };
  const child = spawn(UPDRAFT, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${args.join(' ')} still running after ${ms} ms\n${stderr}`)); }, ms);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) }); });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A spec from the CLI's own template, filled in for this edge. */
function specFile(name, edit = (spec) => spec) {
  const plain = spawnSync(UPDRAFT, ['campaign', 'template', '--plain', '--release', releaseId], { encoding: 'utf8' });
  assert.equal(plain.status, 0, plain.stderr);
  const spec = JSON.parse(plain.stdout);
  spec.name = name;
  spec.selector.device_ids = ['dev-staging-1', 'dev-staging-2', 'dev-staging-3'];
  const path = join(s.dir, `${name.replace(/\W+/g, '-')}.json`);
  writeFileSync(path, JSON.stringify(edit(spec), null, 2));
  return path;
}

before(async () => {
  s = await readyEdge();
  const r = makeRelease(s.dir, { version: '1.4.0' });
  const put = await s.api('PUT', `/api/artifacts/${r.sha256}`, { token: s.tokens.uploader, body: r.bytes, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201, await put.text());
  const created = await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: r.envelope });
  assert.equal(created.status, 201, await created.clone().text());
  releaseId = (await created.json()).id;
  const approved = await s.api('POST', `/api/releases/${releaseId}/approve`, { token: s.tokens.approver });
  assert.equal(approved.status, 200, await approved.text());
});
after(() => s?.stop());

test('a typo in a spec fails locally naming the field, and nothing reaches the edge', async () => {
  const path = specFile('typo', (spec) => { spec.waves[1].gate.max_failure_rat = spec.waves[1].gate.max_failure_rate; delete spec.waves[1].gate.max_failure_rate; return spec; });
  const r = cli(['--json', 'campaign', 'create', '--spec', path], 'operator');
  assert.equal(r.code, 3, r.stdout + r.stderr);
  assert.equal(r.json().error.type, 'invalid-campaign');
  assert.match(r.json().error.message, /waves\[1\]\.gate\.max_failure_rat/);
  const list = cli(['--json', 'campaign', 'list'], 'viewer');
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(list.json().campaigns, [], 'no campaign was created');
});

test('create, approve by another person, start, status, pause, resume, and cancel under --watch', async () => {
  const path = specFile('acme 1.4.0 rollout');
  const created = cli(['--json', 'campaign', 'create', '--spec', path], 'operator');
  assert.equal(created.code, 0, created.stdout + created.stderr);
  const id = created.json().id;
  assert.match(id, /^cmp-/);
  assert.equal(created.json().state.state, 'draft');
  assert.equal(created.json().release_id, releaseId);

  const human = cli(['campaign', 'status', id], 'viewer');
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /draft/);
  assert.match(human.stdout, /UPPER BOUND \/ GATE/);

  // Starting a draft is refused by the edge (409 illegal transition): exit 5.
  const early = cli(['--json', 'campaign', 'start', id], 'operator');
  assert.equal(early.code, 5, early.stdout);
  assert.equal(early.json().error.type, 'illegal-campaign-transition');

  // An operator may not approve (role), an approver who is not the creator may.
  assert.equal(cli(['campaign', 'approve', id], 'operator').code, 5);
  const approved = cli(['--json', 'campaign', 'approve', id], 'approver2');
  assert.equal(approved.code, 0, approved.stdout + approved.stderr);
  assert.equal(approved.json().state.state, 'approved');

  const started = cli(['--json', 'campaign', 'start', id], 'operator');
  assert.equal(started.code, 0, started.stdout + started.stderr);
  assert.equal(started.json().state.state, 'running');
  assert.equal(started.json().wave, 0);

  const status = cli(['--json', 'campaign', 'status', id], 'viewer');
  assert.equal(status.code, 0, status.stdout + status.stderr);
  const page = status.json();
  assert.equal(page.ok, true);
  assert.equal(page.campaign.id, id);
  assert.equal(page.campaign.state.state, 'running');
  assert.equal(page.waves.length, 5);
  assert.deepEqual(page.waves.map((w) => w.percent), [0, 1, 10, 50, 100]);
  for (const w of page.waves) {
    assert.equal(typeof w.counters.offered, 'number');
    assert.equal(typeof w.gate_max_failure_rate, 'number');
  }
  const table = cli(['campaign', 'status', id], 'viewer');
  assert.match(table.stdout, /running, wave 0 \(staging\)/);
  assert.match(table.stdout, /staging\s+0 %/);

  const paused = cli(['--json', 'campaign', 'pause', id], 'operator');
  assert.equal(paused.code, 0, paused.stdout);
  assert.equal(paused.json().state.state, 'paused');
  const resumed = cli(['campaign', 'resume', id], 'operator');
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /resumed: campaign .* is now running, wave 0 \(staging\)/);

  // Cancel needs --yes when no one can be asked, and sends nothing without it.
  const unconfirmed = cli(['campaign', 'cancel', id], 'operator');
  assert.equal(unconfirmed.code, 2);
  assert.match(unconfirmed.stderr, /--yes/);
  assert.equal(cli(['--json', 'campaign', 'status', id], 'viewer').json().campaign.state.state, 'running');

  const watching = background(['--json', 'campaign', 'status', id, '--watch', '--interval', '1'], 'viewer');
  await sleep(2500);
  const cancelled = cli(['--json', 'campaign', 'cancel', id, '--yes'], 'operator');
  assert.equal(cancelled.code, 0, cancelled.stdout + cancelled.stderr);
  assert.equal(cancelled.json().state.state, 'cancelled');
  const watched = await watching;
  assert.equal(watched.code, 1, `a cancelled campaign ends the watch with exit 1\n${watched.stdout}${watched.stderr}`);
  assert.equal(watched.json().error.type, 'campaign-cancelled');
  assert.equal(watched.json().error.campaign.campaign.state.state, 'cancelled');

  const listed = cli(['--json', 'campaign', 'list'], 'viewer').json().campaigns;
  assert.deepEqual(listed.map((c) => [c.id, c.state.state]), [[id, 'cancelled']]);
  const history = cli(['--json', 'campaign', 'status', id], 'viewer').json().history.map((h) => h.action);
  for (const a of ['create', 'approve', 'start', 'pause', 'resume', 'cancel']) {
    assert.ok(history.some((h) => h.endsWith(a)), `history lacks ${a}: ${history}`);
  }
});

test('status --watch exits 0 once the campaign completes', async () => {
  // Two waves whose gates need nothing, advanced by an operator.
  const path = specFile('acme quick', (spec) => {
    spec.selector.device_ids = [];
    spec.waves = [
      { name: 'half', percent: 50, gate: { min_finished: 0, max_failure_rate: 1 } },
      { name: 'all', percent: 100, gate: { min_finished: 0, max_failure_rate: 1 } },
    ];
    spec.auto_advance = false;
    return spec;
  });
  const id = cli(['--json', 'campaign', 'create', '--spec', path], 'operator').json().id;
  assert.equal(cli(['campaign', 'approve', id], 'approver').code, 0);
  assert.equal(cli(['campaign', 'start', id], 'operator').code, 0);

  const watching = background(['campaign', 'status', id, '--watch', '--interval', '1'], 'viewer');
  await sleep(1500);
  const first = cli(['--json', 'campaign', 'advance', id], 'operator');
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.equal(first.json().state.state, 'running');
  assert.equal(first.json().wave, 1);
  await sleep(1500);
  const last = cli(['--json', 'campaign', 'advance', id], 'operator');
  assert.equal(last.code, 0, last.stdout + last.stderr);
  assert.equal(last.json().state.state, 'completed');
  const watched = await watching;
  assert.equal(watched.code, 0, `${watched.stdout}${watched.stderr}`);
  assert.match(watched.stdout, /completed/);
  assert.match(watched.stderr, /running, wave 0 \(half\)/, 'progress lines go to stderr when it is not a terminal');
});

test('the creator cannot approve their own campaign, whatever their role', async () => {
  // `admin` may call every route, so only the two-person rule stands in its way.
  const id = cli(['--json', 'campaign', 'create', '--spec', specFile('acme self-approved')], 'admin').json().id;
  const own = cli(['--json', 'campaign', 'approve', id], 'admin');
  assert.equal(own.code, 5, own.stdout);
  assert.equal(own.json().error.type, 'two-person-rule');
  assert.equal(own.json().error.status, 403);
  const other = cli(['--json', 'campaign', 'approve', id], 'approver');
  assert.equal(other.code, 0, other.stdout + other.stderr);
  assert.equal(other.json().state.state, 'approved');
  assert.equal(cli(['--json', 'campaign', 'cancel', id, '--yes'], 'operator').json().state.state, 'cancelled');
});

test('rollback needs --yes without a terminal, then halts with rollback ordered', async () => {
  const path = specFile('acme rollback');
  const id = cli(['--json', 'campaign', 'create', '--spec', path], 'operator').json().id;
  assert.equal(cli(['campaign', 'approve', id], 'approver').code, 0);
  assert.equal(cli(['campaign', 'start', id], 'operator').code, 0);
  const refused = cli(['campaign', 'rollback', id], 'operator');
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /nothing was sent/);
  const done = cli(['--json', 'campaign', 'rollback', id, '--yes'], 'operator');
  assert.equal(done.code, 0, done.stdout + done.stderr);
  assert.equal(done.json().state.state, 'halted');
  assert.equal(done.json().state.rollback, true);
  // A watch on a halted campaign ends at once with exit 1.
  const watched = await background(['campaign', 'status', id, '--watch'], 'viewer');
  assert.equal(watched.code, 1);
  assert.match(watched.stderr, /did not complete: it ended halted at wave 0 \(staging\), rollback ordered/);
});
