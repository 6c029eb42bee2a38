// Power-loss safety: the real agent binary is SIGKILLed (by itself, at its
// N-th crash point: UPDRAFT_CRASH_AT) at every step of enrollment, download,
// install, trial boot, commit and report delivery, for a good release, one
// whose size is a multiple of the checkpoint size, one whose health check
// fails, and an offline bundle. After each kill:
//  - the state on disk is what a bootloader would act on, and the slot it
//    would boot holds exactly the bytes its boot env names (never a
//    half-written or unverified image);
// and after restarting the agent:
//  - the device ends on a verified, committed image (the new one, or the
//    factory image for the failing release), with no job or trial left;
//  - the edge holds every report exactly once, in order, with seqs 1..n.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { tempDir, updraft } from './helpers/cli.mjs';
import { makeDevice, sha256File, FACTORY_SHA } from './helpers/agent.mjs';

let s;
let token;
let bundlePath;
let killed = 0;

before(async () => {
  s = await readyEdge({ unlimited: true });
  const t = await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'power-loss fleet', product: 'acme-thermostat', max_uses: 10_000 } });
  token = (await t.json()).token;
  // thermo-v2 gets an image that is not a multiple of the checkpoint size;
  // thermo-v3 one that is, so a cut after the last checkpoint leaves every
  // byte durable (resuming must then fetch nothing).
  for (const [hardware, size, version] of [['thermo-v2', 600_000, '1.1.0'], ['thermo-v3', 4 * 65536, '1.1.1']]) {
    const release = makeRelease(s.dir, { version, securityVersion: 2, size, hardware: [hardware], product: 'acme-thermostat' });
    assert.equal((await s.api('PUT', `/api/artifacts/${release.sha256}`, { token: s.tokens.uploader, body: release.bytes })).status, 201);
    const rel = await (await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: release.envelope })).json();
    assert.equal((await s.api('POST', `/api/releases/${rel.id}/approve`, { token: s.tokens.approver })).status, 200);
    if (hardware === 'thermo-v2') {
      bundlePath = join(s.dir, 'fw.updraft');
      updraft(['bundle', 'create', '--release', release.manifestPath, '--firmware', release.firmware, '--root', s.rootPath, '--out', bundlePath, '--force']);
    }
  }
});

after(() => {
  console.log(`# power-loss: ${killed} SIGKILLs injected`);
  return s?.stop();
});

const VARIANTS = {
  healthy: { final: 'b' },
  'checkpoint-aligned': { final: 'b', hardwareId: 'thermo-v3' },
  unhealthy: { health: 'exit 1', final: 'a' },
  'offline-bundle': { final: 'b', bundle: true },
};

function device(variant) {
  const v = VARIANTS[variant];
  return makeDevice(tempDir(`agent-pl-${variant}-`), {
    server: s.edge.url, anchor: s.rootPath, token, health: v.health, hardwareId: v.hardwareId, checkpointBytes: 65536,
  });
}

/** The command a variant's update runs: online check, or the bundle. */
const updateArgs = (variant) => (VARIANTS[variant].bundle ? ['install-bundle', bundlePath] : ['run', '--once']);

/** What the bootloader would boot verifies: good slot (and armed trial) bytes match the env. */
function assertBootable(d, context) {
  const envPath = join(d.stateDir, 'boot.env');
  if (!existsSync(envPath)) return; // killed before first start finished: the factory slot boots
  const env = JSON.parse(readFileSync(envPath, 'utf8'));
  const slots = ['a', 'b'];
  const good = env.slots[slots.indexOf(env.good)];
  assert.ok(good?.confirmed, `${context}: good slot ${env.good} holds a confirmed image`);
  assert.equal(sha256File(d.slot(env.good), good.length), good.sha256, `${context}: good slot bytes verify`);
  if (env.trial) {
    const trial = env.slots[slots.indexOf(env.trial)];
    assert.equal(sha256File(d.slot(env.trial), trial.length), trial.sha256, `${context}: armed trial slot bytes verify`);
  }
}

async function reportsOf(deviceId) {
  const res = await s.api('GET', `/api/devices/${deviceId}/reports?limit=500`, { token: s.tokens.viewer });
  assert.equal(res.status, 200);
  return (await res.json()).reports;
}

const label = (r) => (r.event.code ? `${r.event.state}:${r.event.code}` : r.event.state);

/** Counts the crash points of a whole update, without crashing. */
async function tracePoints(variant) {
  const d = device(variant);
  const trace = join(d.dir, 'trace');
  const r = await d.runAsync(updateArgs(variant), { env: { UPDRAFT_CRASH_TRACE: trace } });
  assert.ok(r.status === 0 || variant === 'unhealthy', r.stderr);
  return readFileSync(trace, 'utf8').trim().split('\n').map((l) => l.split(' ')[1]);
}

async function crashAndRecover(variant, point, traced) {
  const d = device(variant);
  const crashed = await d.runAsync(updateArgs(variant), { env: { UPDRAFT_CRASH_AT: String(point) } });
  // Checkpoints sit at fixed byte offsets, so every run passes the same points as the traced one.
  assert.ok(point <= traced);
  assert.equal(crashed.signal, 'SIGKILL', `point ${point}: expected a SIGKILL, got ${crashed.status}: ${crashed.stderr}`);
  killed += 1;
  assertBootable(d, `${variant} after kill at ${point}`);

  // Power back on, as often as it takes (each run is a boot).
  for (let i = 0; i < 4; i++) {
    const r = await d.runAsync(updateArgs(variant));
    if (r.status === 0 || variant === 'unhealthy') break;
  }
  if (VARIANTS[variant].bundle) {
    // Back online: enroll if the cut came first, deliver the queued reports.
    const online = await d.runAsync();
    assert.equal(online.status, 0, online.stderr);
  }
  const st = await d.status();
  const context = `${variant}, killed at point ${point}`;
  assertBootable(d, context);
  assert.equal(st.good, VARIANTS[variant].final, `${context}: final good slot`);
  assert.equal(st.trial, null, context);
  assert.equal(st.job, null, context);
  assert.equal(st.pending_reports, 0, `${context}: reports delivered`);
  const expectFloor = variant === 'unhealthy' ? 1 : 2;
  assert.equal(st.security_floor, expectFloor, context);
  if (variant === 'unhealthy') assert.equal(sha256File(d.slot('a')), FACTORY_SHA, context);

  const reports = await reportsOf(st.device_id);
  assert.deepEqual(reports.map((r) => r.seq), reports.map((_, i) => i + 1), `${context}: seqs 1..n, none lost or doubled`);
  const labels = reports.map(label);
  const expected = variant === 'unhealthy'
    ? ['downloading', 'downloaded', 'installing', 'rebooting', 'rolled_back:health-check-failed']
    : ['downloading', 'downloaded', 'installing', 'rebooting', 'succeeded'];
  assert.deepEqual(labels.slice(0, 5), expected, `${context}: ${labels.join(', ')}`);
  // After a rollback, later checks may refuse the same image again; nothing else.
  assert.ok(labels.slice(5).every((l) => l === 'failed:previously-rolled-back'), `${context}: ${labels.join(', ')}`);
}

for (const variant of Object.keys(VARIANTS)) {
  test(`survives_power_loss_at_every_step (${variant} release)`, async () => {
    const points = await tracePoints(variant);
    assert.ok(points.includes('download-checkpoint') && points.includes('trial-armed') && points.includes('boot-slot-selected'), points.join(','));
    if (!VARIANTS[variant].bundle) assert.ok(points.includes('reports-acknowledged'), points.join(','));
    console.log(`# ${variant}: ${points.length} crash points: ${[...new Set(points)].join(', ')}`);
    for (let p = 1; p <= points.length; p++) {
      await crashAndRecover(variant, p, points.length);
    }
  });
}

test('at least 200 power cuts were injected in all', () => {
  assert.ok(killed >= 200, `only ${killed} SIGKILLs`);
});
