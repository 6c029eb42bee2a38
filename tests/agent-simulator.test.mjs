// The fleet simulator (`firmware-agent simulate`) against the built worker
// in Miniflare: a fleet enrolls, takes a good release, then meets a release
// whose image carries the simulator's boot-failure marker. Every device that
// the deterministic health verdict fails must roll back to the good image,
// and the edge must hold its reports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { tempDir } from './helpers/cli.mjs';
import { AGENT } from './helpers/agent.mjs';

const DEVICES = 40;
let s;
let token;
const fleetDir = tempDir('agent-sim-');

async function publish(opts) {
  const release = makeRelease(s.dir, opts);
  assert.equal((await s.api('PUT', `/api/artifacts/${release.sha256}`, { token: s.tokens.uploader, body: release.bytes })).status, 201);
  const rel = await (await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: release.envelope })).json();
  assert.equal((await s.api('POST', `/api/releases/${rel.id}/approve`, { token: s.tokens.approver })).status, 200);
  return release;
}

function simulate(args) {
  return new Promise((resolve) => {
    const child = spawn(AGENT, ['simulate', '--server', s.edge.url, '--trust-anchor', s.rootPath, '--enroll-token', token,
      '--devices', String(DEVICES), '--dir', fleetDir, '--threads', '8', '--poll-s', '1', '--max-seconds', '120', '--seed', '7', '--json', ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function reportsOf(deviceId) {
  const res = await s.api('GET', `/api/devices/${deviceId}/reports?limit=500`, { token: s.tokens.viewer });
  return (await res.json()).reports;
}

before(async () => {
  s = await readyEdge({ unlimited: true });
  const t = await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'sim', product: 'acme-thermostat', max_uses: 1000 } });
  token = (await t.json()).token;
});

after(() => s?.stop());

test('a simulated fleet on a flaky network enrolls and takes a good release everywhere', async () => {
  await publish({ version: '1.1.0', securityVersion: 2, size: 100_000 });
  // A third of requests fail as if the network dropped them: every device still gets there.
  const r = await simulate(['--until-version', '1.1.0', '--flaky-network', '0.3']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /enrolled/, 'progress lines while it runs');
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.until_version_reached, true, r.stderr);
  assert.equal(summary.enrolled, DEVICES);
  assert.deepEqual(summary.versions, { '1.1.0': DEVICES });
  assert.equal(summary.succeeded, DEVICES);
  const ids = readFileSync(summary.device_ids_file, 'utf8').trim().split('\n');
  assert.equal(new Set(ids).size, DEVICES, 'each device has its own key and id');
  const reports = await reportsOf(ids[0]);
  assert.deepEqual(reports.map((x) => x.event.state), ['downloading', 'downloaded', 'installing', 'rebooting', 'succeeded']);
});

test('a release marked to fail 30 % of boots is rolled back on exactly the devices whose health check fails', async () => {
  const bad = await publish({ version: '1.2.0', securityVersion: 2, size: 100_000, marker: 'UPDRAFT-SIM-BOOT-FAILURE-RATE=0.30' });
  const r = await simulate(['--until-version', '1.2.0']);
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  const devices = JSON.parse(readFileSync(summary.devices_file, 'utf8'));
  const list = Array.isArray(devices) ? devices : devices.devices;
  const failedVerdict = (d) => d.health_verdicts.some((v) => (v.healthy ?? v.ok) === false || v.verdict === 'fail');
  const doomed = list.filter(failedVerdict);
  assert.ok(doomed.length > 0 && doomed.length < DEVICES, `${doomed.length} of ${DEVICES} failed their health check`);
  assert.equal(summary.rolled_back['health-check-failed'], doomed.length);
  assert.equal(summary.versions['1.2.0'], DEVICES - doomed.length);
  assert.equal(summary.versions['1.1.0'], doomed.length, 'rolled back onto the previous good image');
  for (const d of doomed.slice(0, 5)) {
    const states = (await reportsOf(d.device_id)).map((x) => (x.event.code ? `${x.event.state}:${x.event.code}` : x.event.state));
    assert.ok(states.includes('rolled_back:health-check-failed'), states.join(','));
    const last = (await reportsOf(d.device_id)).filter((x) => x.sha256 === bad.sha256).at(-1);
    assert.ok(last, 'the edge knows which image failed');
  }
});
