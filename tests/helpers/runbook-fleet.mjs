// A live fleet for the operator runbooks' tests (tests/docs/<name>.setup.mjs):
// an edge whose rollout cron runs every second instead of every minute
// (POST /api/campaigns/tick, the cron's on-demand twin), releases published
// through the two-person rule, campaigns, and `firmware-agent simulate` (the
// real agent code) as the devices, in the foreground or in the background
// while a runbook's shell blocks run.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readyEdge, makeRelease, ROLES } from './setup.mjs';
import { tempDir } from './cli.mjs';
import { AGENT } from './agent.mjs';

export const PRODUCT = 'acme-thermostat';

async function ok(res, what, ...statuses) {
  if (!statuses.includes(res.status)) throw new Error(`${what}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Waits until `probe()` returns a truthy value (returned), or fails naming `what` after `timeoutMs`. */
export async function waitFor(what, probe, { timeoutMs = 30_000, intervalMs = 500 } = {}) {
  const until = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * readyEdge() plus: the cron ticking every second, an enrollment token for
 * the product (`s.enrollToken`), and helpers (`publish`, `campaign`,
 * `status`, `fleet`, `devices`, `simulate`). `stop()` stops the fleets, the
 * ticking and the edge.
 */
export async function fleetEdge({ bindings = {}, maxUses = 200 } = {}) {
  const s = await readyEdge({ unlimited: true, bindings });
  const fleets = new Set();
  let ticking = true;
  let timer;
  const tick = async () => {
    if (!ticking) return;
    try {
      await s.api('POST', '/api/campaigns/tick');
    } catch {
      // the edge is stopping
    }
    if (ticking) timer = setTimeout(tick, 1000);
  };
  timer = setTimeout(tick, 1000);

  const t = await ok(await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'test fleet', product: PRODUCT, max_uses: maxUses } }), 'enroll token', 201);

  /** makeRelease() options → uploaded (uploader) and approved (approver); returns the release with its `id`. */
  async function publish(opts) {
    const release = makeRelease(s.dir, { size: 48 * 1024, ...opts });
    await ok(await s.api('PUT', `/api/artifacts/${release.sha256}`, { token: s.tokens.uploader, body: release.bytes }), 'upload', 200, 201);
    const { id } = await ok(await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: release.envelope }), 'publish', 201);
    await ok(await s.api('POST', `/api/releases/${id}/approve`, { token: s.tokens.approver }), `approve ${id}`, 200);
    return { ...release, id };
  }

  /** A campaign spec → created (operator), approved (approver) and started (operator); returns its id. */
  async function campaign(spec, { start = true } = {}) {
    const { id } = await ok(await s.api('POST', '/api/campaigns', { token: s.tokens.operator, body: spec }), 'create campaign', 201);
    await ok(await s.api('POST', `/api/campaigns/${id}/approve`, { token: s.tokens.approver }), `approve ${id}`, 200);
    if (start) await ok(await s.api('POST', `/api/campaigns/${id}/start`, { token: s.tokens.operator }), `start ${id}`, 200);
    return id;
  }

  const get = async (path) => ok(await s.api('GET', path, { token: s.tokens.viewer }), `GET ${path}`, 200);

  /** Every device of the edge (all pages). */
  async function devices(query = '') {
    const all = [];
    let after = '';
    for (;;) {
      const page = await get(`/api/devices?limit=100${query ? `&${query}` : ''}${after ? `&after_id=${after}` : ''}`);
      all.push(...page.devices);
      if (!page.next_after_id) return all;
      after = page.next_after_id;
    }
  }

  /**
   * Runs `firmware-agent simulate` with the test's enrollment token; resolves
   * when it exits unless `background`, in which case it returns at once.
   * Returns { done (promise of { status, stdout, stderr, summary }), stop() }.
   */
  function simulate({ devices: n = 20, dir, keySeed = 7, args = [], maxSeconds = 300, background = false } = {}) {
    const child = spawn(AGENT, ['simulate', '--server', s.edge.url, '--trust-anchor', s.rootPath, '--enroll-token', t.token,
      '--devices', String(n), '--dir', dir, '--threads', String(Math.min(n, 8)), '--poll-s', '1', '--no-battery',
      '--seed', String(keySeed), '--key-seed', String(keySeed), '--max-seconds', String(maxSeconds), '--json', ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const done = new Promise((resolve) => child.on('close', (status) => {
      fleets.delete(fleet);
      let summary = null;
      try { summary = JSON.parse(stdout); } catch { /* killed before its summary */ }
      resolve({ status, stdout, stderr, summary });
    }));
    const fleet = {
      done,
      stderr: () => stderr,
      /** Ctrl-C (the simulator delivers queued reports and exits), SIGKILL after 5 s. */
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return done;
        child.kill('SIGINT');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        const r = await done;
        clearTimeout(killer);
        return r;
      },
    };
    fleets.add(fleet);
    return background ? fleet : done.then((r) => {
      if (r.status !== 0) throw new Error(`simulate exited ${r.status}: ${r.stderr.slice(-2000)}`);
      return r;
    });
  }

  /** Device ids a finished simulator run wrote (its `device-ids.txt`). */
  const simulatedIds = (dir) => readFileSync(join(dir, 'device-ids.txt'), 'utf8').split('\n').filter(Boolean);

  /** Devices of the product by running version, from GET /api/fleet. */
  async function versions(product = PRODUCT) {
    const fleet = await get('/api/fleet');
    const out = {};
    for (const row of fleet.by.filter((r) => r.product === product)) out[row.running_version] = (out[row.running_version] ?? 0) + row.devices;
    return out;
  }

  /** The environment a runbook's blocks get: the edge, the root, and <ROLE>_TOKEN per role. */
  function env(extra = {}) {
    const e = { UPDRAFT_SERVER: s.edge.url, ROOT: s.rootPath };
    for (const role of ROLES) e[`${role.toUpperCase()}_TOKEN`] = s.tokens[role];
    return { ...e, ...extra };
  }

  async function stop() {
    ticking = false;
    clearTimeout(timer);
    await Promise.all([...fleets].map((f) => f.stop()));
    await s.stop();
  }

  /**
   * A fleet of `devices` on `version` (published, rolled out by a completed
   * one-wave campaign, so only campaigns offer to the product from then on),
   * kept polling in the background. Returns { release, campaign, dir, staging }
   * (the first three devices' ids, for a staging group).
   */
  async function fleetOn({ version, securityVersion, devices }) {
    const release = await publish({ version, securityVersion });
    const rollout = await campaign(oneWaveSpec(release.id, `${PRODUCT} ${version}`, devices));
    const dir = tempDir('runbook-fleet-');
    await simulate({ devices, dir, args: ['--until-version', version] });
    await waitFor(`the ${version} campaign to complete`, async () => (await get(`/api/campaigns/${rollout}`)).campaign.state.state === 'completed');
    simulate({ devices, dir, background: true, maxSeconds: 900, args: ['--duration-s', '900'] });
    return { release, campaign: rollout, dir, staging: simulatedIds(dir).slice(0, 3) };
  }

  return {
    ...s, enrollToken: t.token, publish, campaign, devices, simulate, simulatedIds, versions, env, fleetOn,
    status: (id) => get(`/api/campaigns/${id}`),
    get,
    fleetDir: () => tempDir('runbook-fleet-'),
    stop,
  };
}

/** One wave for the whole fleet, gated so that a healthy fleet of `n` passes: a test's "last month's release". */
export function oneWaveSpec(releaseId, name, n) {
  return {
    name,
    release_id: releaseId,
    selector: { hardware_ids: ['thermo-v2'] },
    waves: [{ name: 'everyone', percent: 100, min_soak_minutes: 0, gate: { min_finished: n, max_failure_rate: 0.5 } }],
    budgets: { max_starts_per_minute: 6000, max_in_flight: 1000 },
    deadline_s: 600,
    auto_advance: true,
  };
}
