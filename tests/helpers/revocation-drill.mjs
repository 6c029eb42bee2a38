// An emergency-revocation drill on a simulated fleet (the real agent code in
// `firmware-agent simulate`) against the built worker in Miniflare. Used by
// tests/revocation-fleet.test.mjs (a small fleet, in `make test`) and by
// bench/revocation.mjs (200 devices, figures for BENCHMARKS.md).
//
// The fleet takes 1.1.0, then 1.2.0; 1.2.0 is revoked while the fleet keeps
// polling, and the drill measures how long until the simulator says every
// device runs a safe image again (`--until-unrevoked`).
//   mode 'rollback':    revoke 1.2.0 (rolled out by a campaign); devices go back to
//                       1.1.0 in their other slot.
//   mode 'fix-forward': revoke 1.2.0 and raise the floor to 3, so 1.1.0 (security 2)
//                       is no way back; the replacement 1.2.1 (security 3) is
//                       delivered by the fix-forward campaign.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readyEdge, makeRelease } from './setup.mjs';
import { tempDir, updraft } from './cli.mjs';
import { AGENT } from './agent.mjs';

function publishWith(s) {
  return async (opts) => {
    const release = makeRelease(s.dir, { size: 64 * 1024, ...opts });
    const put = await s.api('PUT', `/api/artifacts/${release.sha256}`, { token: s.tokens.uploader, body: release.bytes });
    if (put.status !== 201) throw new Error(`upload: ${put.status}`);
    const rel = await (await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: release.envelope })).json();
    const ok = await s.api('POST', `/api/releases/${rel.id}/approve`, { token: s.tokens.approver });
    if (ok.status !== 200) throw new Error(`approve: ${ok.status}`);
    return { ...release, id: rel.id };
  };
}

function simulate(s, token, dir, devices, args, maxSeconds = 300) {
  return new Promise((resolve) => {
    const child = spawn(AGENT, ['simulate', '--server', s.edge.url, '--trust-anchor', s.rootPath, '--enroll-token', token,
      '--devices', String(devices), '--dir', dir, '--threads', String(Math.min(devices, 16)), '--poll-s', '1', '--max-seconds', String(maxSeconds),
      '--seed', '11', '--key-seed', '11', '--json', ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr, summary: status === 0 ? JSON.parse(stdout) : null }));
  });
}

/** A signed check by a CLI-enrolled device; returns the directive's revocation_seq. */
function seqSeenBy(s, device) {
  const out = updraft(['--json', 'device', 'check', '--server', s.edge.url, '--dir', device.dir, '--key', device.key,
    '--version', '1.2.0', '--sha256', 'cd'.repeat(32), '--security-version', '2']);
  return JSON.parse(out).revocation_seq;
}

/**
 * Runs the drill. Returns { s, summary, secondsToSafe, firstCheckMs, revocation, releases }.
 * The caller stops the edge (`result.s.stop()`).
 */
export async function revocationDrill({ devices = 30, mode = 'rollback', maxSeconds = 300, log = () => {} } = {}) {
  const s = await readyEdge({ unlimited: true, bindings: { UPDRAFT_POLL_AFTER_S: '2' } });
  const t = await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'drill', product: 'acme-thermostat', max_uses: devices + 10 } });
  const token = (await t.json()).token;
  const dir = tempDir('drill-');
  const publish = publishWith(s);

  const good = await publish({ version: '1.1.0', securityVersion: 2 });
  let r = await simulate(s, token, dir, devices, ['--until-version', '1.1.0']);
  if (!r.summary?.until_version_reached) throw new Error(`fleet did not reach 1.1.0: ${r.stderr.slice(-2000)}`);
  log(`fleet of ${devices} on 1.1.0`);
  // The bad release goes out through a campaign, as releases do once a
  // product has campaigns (and the campaign-less baseline is then off).
  const bad = await publish({ version: '1.2.0', securityVersion: 2 });
  const spec = { name: 'thermostat 1.2.0', release_id: bad.id,
    waves: [{ name: 'everyone', percent: 100, min_soak_minutes: 0, gate: { min_finished: devices, max_failure_rate: 0.5 } }],
    budgets: { max_starts_per_minute: 6000, max_in_flight: devices }, deadline_s: 3600 };
  const campaign = (await (await s.api('POST', '/api/campaigns', { token: s.tokens.operator, body: spec })).json()).id;
  for (const [verb, who] of [['approve', 'approver'], ['start', 'operator']]) {
    const a = await s.api('POST', `/api/campaigns/${campaign}/${verb}`, { token: s.tokens[who] });
    if (a.status !== 200) throw new Error(`${verb}: ${a.status} ${await a.text()}`);
  }
  r = await simulate(s, token, dir, devices, ['--until-version', '1.2.0']);
  if (!r.summary?.until_version_reached) throw new Error(`fleet did not reach 1.2.0: ${r.stderr.slice(-2000)}`);
  log(`fleet of ${devices} on 1.2.0`);
  const fix = mode === 'fix-forward' ? await publish({ version: '1.2.1', securityVersion: 3 }) : null;

  // A CLI device to time the first check that sees the revocation.
  const et = await (await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'probe', product: 'acme-thermostat' } })).json();
  const probe = { dir: join(s.dir, 'probe'), key: join(s.dir, 'probe.key') };
  updraft(['device', 'enroll', '--server', s.edge.url, '--enroll-token', et.token, '--key', probe.key, '--hardware-id', 'thermo-v2', '--serial', 'PROBE-1', '--out', probe.dir]);

  // The fleet keeps polling while the revocation lands.
  const running = simulate(s, token, dir, devices, ['--until-unrevoked'], maxSeconds);
  await new Promise((res) => setTimeout(res, 1500));
  const body = { reason: 'drill: 1.2.0 bricks rev B boards', release_ids: [bad.id] };
  if (fix) Object.assign(body, { min_security_version: { 'acme-thermostat': 3 }, replacement_release_id: fix.id,
    fix_forward: { max_starts_per_minute: 600, max_in_flight: devices } });
  const t0 = Date.now();
  const res = await s.api('POST', '/api/revocations', { token: s.tokens.security, body });
  if (res.status !== 201) throw new Error(`revoke: ${res.status} ${await res.text()}`);
  const revocation = await res.json();
  let firstCheckMs = null;
  while (firstCheckMs === null && Date.now() - t0 < 10_000) {
    if (seqSeenBy(s, probe) >= revocation.seq) firstCheckMs = Date.now() - t0;
  }
  const done = await running;
  const secondsToSafe = (Date.now() - t0) / 1000;
  if (done.status !== 0) throw new Error(`simulator: ${done.status} ${done.stderr.slice(-2000)}`);
  writeFileSync(join(dir, 'drill-summary.json'), done.stdout);
  log(`back on safe images ${secondsToSafe.toFixed(1)} s after the revocation`);
  return { s, summary: done.summary, stderr: done.stderr, secondsToSafe, firstCheckMs, revocation, campaign, releases: { good, bad, fix },
    devicesFile: done.summary.devices_file, readJson: (p) => JSON.parse(readFileSync(p, 'utf8')) };
}
