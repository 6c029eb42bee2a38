// End to end: the real firmware-agent binary against the built worker in
// Miniflare (local D1, R2, cache). Enroll → check → download → install →
// trial boot → commit → reports; a dropped download resumes with Range; a
// corrupted artifact is refused; a failing health check rolls back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { tempDir } from './helpers/cli.mjs';
import { makeDevice, startProxy, sha256File, FACTORY_SHA } from './helpers/agent.mjs';

let s;
let release;
let token;

before(async () => {
  s = await readyEdge();
  const t = await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'e2e fleet', product: 'acme-thermostat', max_uses: 100 } });
  assert.equal(t.status, 201, await t.clone().text());
  token = (await t.json()).token;
  release = makeRelease(s.dir, { version: '1.1.0', securityVersion: 2, size: 600_000 });
  assert.equal((await s.api('PUT', `/api/artifacts/${release.sha256}`, { token: s.tokens.uploader, body: release.bytes })).status, 201);
  const rel = await (await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: release.envelope })).json();
  assert.equal((await s.api('POST', `/api/releases/${rel.id}/approve`, { token: s.tokens.approver })).status, 200);
});

after(() => s?.stop());

function device(name, opts = {}) {
  return makeDevice(join(tempDir(`agent-${name}-`)), { server: s.edge.url, anchor: s.rootPath, token, ...opts });
}

async function reportsOf(deviceId) {
  const res = await s.api('GET', `/api/devices/${deviceId}/reports?limit=500`, { token: s.tokens.viewer });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).reports;
}

const states = (reports) => reports.map((r) => (r.event.code ? `${r.event.state}:${r.event.code}` : r.event.state));

test('enroll, check, download, install, trial boot, commit, report: one `run --once`', async () => {
  const d = device('happy');
  const r = await d.runAsync();
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /trial image committed/);

  const st = await d.status();
  assert.equal(st.good, 'b');
  assert.equal(st.trial, null);
  assert.equal(st.slots[1].version, '1.1.0');
  assert.equal(st.slots[1].sha256, release.sha256);
  assert.equal(st.slots[1].confirmed, true);
  assert.equal(st.security_floor, 2, 'the floor rose to the committed release');
  assert.equal(st.job, null);
  assert.equal(st.pending_reports, 0, 'every report was delivered');
  assert.equal(sha256File(d.slot('b')), release.sha256, 'the good slot holds exactly the signed bytes');
  assert.equal(sha256File(d.slot('a')), FACTORY_SHA, 'the old slot is untouched');

  const reports = await reportsOf(st.device_id);
  assert.deepEqual(states(reports), ['downloading', 'downloaded', 'installing', 'rebooting', 'succeeded']);
  assert.deepEqual(reports.map((x) => x.seq), [1, 2, 3, 4, 5]);
  assert.equal(reports.at(-1).running, '1.1.0');
  assert.ok(reports.every((x) => x.sha256 === release.sha256));

  // Up to date now: the next run checks, gets "none", changes nothing.
  const again = await d.runAsync();
  assert.equal(again.status, 0, again.stderr);
  assert.equal((await d.status()).good, 'b');
  assert.equal((await reportsOf(st.device_id)).length, 5, 'no duplicate reports');
});

test('resumes_download_after_connection_drop: the second GET asks for the rest with Range', async () => {
  let artifactGets = 0;
  const proxy = await startProxy(s.edge.url, (req) => {
    if (req.url.startsWith('/v1/artifacts/') && artifactGets++ === 0) return { cutAfter: 250_000 };
  });
  try {
    const d = device('resume', { server: proxy.url, checkpointBytes: 65536 });
    const r = await d.runAsync();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /resuming 1\.1\.0 at byte \d+/);
    const gets = proxy.seen.filter((x) => x.url.startsWith('/v1/artifacts/'));
    assert.equal(gets.length, 2, JSON.stringify(gets));
    assert.equal(gets[0].range, undefined);
    const from = Number(/^bytes=(\d+)-$/.exec(gets[1].range)?.[1]);
    assert.ok(from > 0 && from <= 250_000, `resumed from ${gets[1].range}`);
    const st = await d.status();
    assert.equal(st.good, 'b');
    assert.equal(sha256File(d.slot('b')), release.sha256);
    const reports = await reportsOf(st.device_id);
    assert.deepEqual(states(reports), ['downloading', 'downloaded', 'installing', 'rebooting', 'succeeded'], 'a resumed download is one download');
  } finally {
    await proxy.stop();
  }
});

test('rejects_corrupted_artifact: a flipped byte in transit is caught, nothing is armed', async () => {
  const proxy = await startProxy(s.edge.url, (req) => (req.url.startsWith('/v1/artifacts/') ? { flipAt: 123_456 } : undefined));
  try {
    const d = device('corrupt', { server: proxy.url });
    const r = await d.runAsync();
    assert.equal(r.status, 1, `refused, exit 1: ${r.stderr}`);
    assert.match(r.stderr, /image-hash/);
    const st = await d.status();
    assert.equal(st.good, 'a');
    assert.equal(st.trial, null);
    assert.equal(st.slots[1], null, 'the bad bytes are not a bootable image');
    assert.equal(st.security_floor, 1);
    assert.equal(st.job, null);
    const reports = await reportsOf(st.device_id);
    assert.deepEqual(states(reports), ['downloading', 'failed:image-hash']);
  } finally {
    await proxy.stop();
  }
});

test('rolls_back_when_health_check_fails: back on the factory image, reported, not retried', async () => {
  const d = device('unhealthy', { health: 'echo "sensor self-test failed" >&2; exit 1' });
  const r = await d.runAsync();
  assert.match(r.stderr, /trial image abandoned \(health-check-failed\)/);
  const st = await d.status();
  assert.equal(st.good, 'a');
  assert.equal(st.booted, 'a');
  assert.equal(st.trial, null);
  assert.equal(st.security_floor, 1, 'the floor never rises for an image that failed');
  assert.equal(sha256File(d.slot('a')), FACTORY_SHA);
  const reports = await reportsOf(st.device_id);
  assert.deepEqual(states(reports), [
    'downloading', 'downloaded', 'installing', 'rebooting', 'rolled_back:health-check-failed',
    // Offered again after the reboot: refused, so a bad release cannot boot-loop the device.
    'failed:previously-rolled-back',
  ]);
  assert.equal(reports[4].running, '1.0.0');
});

test('an offline bundle installs with no network, and its reports reach the edge later', async () => {
  const bundle = join(s.dir, 'fw-1.1.0.updraft');
  const { updraft } = await import('./helpers/cli.mjs');
  updraft(['bundle', 'create', '--release', release.manifestPath, '--firmware', release.firmware, '--root', s.rootPath, '--out', bundle, '--force']);
  // The device's server is unreachable: nothing listens there.
  const d = device('offline', { server: 'http://127.0.0.1:9' });
  const r = await d.runAsync(['install-bundle', bundle]);
  assert.equal(r.status, 0, r.stderr);
  let st = await d.status();
  assert.equal(st.good, 'b', 'committed after the trial boot');
  assert.equal(st.slots[1].sha256, release.sha256);
  assert.equal(st.pending_reports, 5, 'reports wait on disk while offline');
  assert.equal(st.device_id, null);

  // Back online: enroll, flush, exactly once.
  const cfg = readFileSync(d.config, 'utf8').replace('server = "http://127.0.0.1:9"', `server = "${s.edge.url}"`);
  (await import('node:fs')).writeFileSync(d.config, cfg);
  const online = await d.runAsync();
  assert.equal(online.status, 0, online.stderr);
  st = await d.status();
  assert.equal(st.pending_reports, 0);
  const reports = await reportsOf(st.device_id);
  assert.deepEqual(states(reports), ['downloading', 'downloaded', 'installing', 'rebooting', 'succeeded']);
});

test('block backend: the image is written in place into the partition, bytes past it untouched', async () => {
  const { writeFileSync, readFileSync: read } = await import('node:fs');
  const { createHash } = await import('node:crypto');
  const dir = tempDir('agent-block-');
  const partA = join(dir, 'mmcblk0p2');
  const partB = join(dir, 'mmcblk0p3');
  const partSize = 1024 * 1024;
  const factory = Buffer.alloc(partSize, 0x11);
  const factoryImage = factory.subarray(0, 4096);
  writeFileSync(partA, factory);
  writeFileSync(partB, Buffer.alloc(partSize, 0xee));
  const d = makeDevice(dir, {
    server: s.edge.url, anchor: s.rootPath, token,
    slots: ['backend = "block"', `a = "${partA}"`, `b = "${partB}"`],
    factory: `sha256 = "${createHash('sha256').update(factoryImage).digest('hex')}"\nlength = 4096`,
  });
  const r = await d.runAsync();
  assert.equal(r.status, 0, r.stderr);
  const st = await d.status();
  assert.equal(st.good, 'b');
  assert.equal(st.slots[1].sha256, release.sha256);
  const b = read(partB);
  assert.equal(b.length, partSize, 'a partition is never truncated or grown');
  assert.equal(sha256File(partB, release.length), release.sha256);
  assert.ok(b.subarray(release.length).every((x) => x === 0xee), 'bytes past the image are untouched');
});

test('hook backend: the installer gets the staged image only after it verified', async () => {
  const dir = tempDir('agent-hook-');
  const installed = join(dir, 'installed.img');
  const { createHash } = await import('node:crypto');
  const d = makeDevice(dir, {
    server: s.edge.url, anchor: s.rootPath, token,
    slots: ['backend = "hook"', `staging_dir = "${join(dir, 'staging')}"`, `install_command = "cp {} '${installed}'"`],
    factory: `sha256 = "${createHash('sha256').update('factory').digest('hex')}"\nlength = 7`,
  });
  const r = await d.runAsync();
  assert.equal(r.status, 0, r.stderr);
  assert.equal(sha256File(installed), release.sha256, 'the installer received exactly the signed image');
  assert.equal((await d.status()).slots[1].version, '1.1.0');
});

test('the device key is private to its owner, and a missing trust anchor stops the agent', async () => {
  const { statSync, rmSync } = await import('node:fs');
  const d = device('identity');
  assert.equal((await d.runAsync(['enroll'])).status, 0);
  assert.equal(statSync(join(d.stateDir, 'identity', 'device.key')).mode & 0o777, 0o600);

  const lost = makeDevice(tempDir('agent-noanchor-'), { server: s.edge.url, anchor: join(s.dir, 'no-such-root.json'), token });
  const r = await lost.runAsync();
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /trust anchor .*refusing to run without a trust anchor/);
  rmSync(lost.dir, { recursive: true, force: true });
});

test('health samples: after an update the device reports uptime and reboots for the campaign it took', async () => {
  const d = device('samples', { sampleIntervalS: 1 });
  assert.equal((await d.runAsync()).status, 0);
  await new Promise((r) => setTimeout(r, 1500));
  // A later power-on (a reboot) and a check past the interval: one sample.
  const r = await d.runAsync();
  assert.equal(r.status, 0, r.stderr);
  const st = await d.status();
  const reports = await reportsOf(st.device_id);
  const samples = reports.filter((x) => x.event.state === 'health');
  assert.equal(samples.length, 1, JSON.stringify(reports.map((x) => x.event)));
  const [sample] = samples;
  assert.ok(sample.event.uptime_s >= 1, JSON.stringify(sample));
  assert.equal(sample.event.reboots, 1, 'the second run was a power-on after the commit');
  assert.equal(sample.event.crashes, 0);
  assert.equal(sample.running, '1.1.0');
  assert.equal(sample.campaign_id, reports.find((x) => x.event.state === 'succeeded').campaign_id, 'counted for the campaign it took');
  assert.ok(reports.indexOf(sample) > reports.findIndex((x) => x.event.state === 'succeeded'));
});
