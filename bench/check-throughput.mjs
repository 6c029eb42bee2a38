// Update-check throughput of the built worker in workerd, side by side with a
// trivial constant-response worker in the same runtime (the runtime's ceiling).
// Both are reached through Miniflare's direct sockets (no proxy hop, DESIGN §8).
//
//   node bench/check-throughput.mjs [--seconds 10] [--connections 8] [--json out.json] [--build worker/build]
//
// Measures requests/s and p50/p99 latency with autocannon, and the workerd
// process's CPU time per request (utime+stime from /proc between runs).
import autocannon from 'autocannon';
import { Miniflare } from 'miniflare';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';
import { REPO, applyMigrations, edgeSecrets } from '../tests/helpers/edge.mjs';
import { makeRoot, tempDir, updraft } from '../tests/helpers/cli.mjs';
import { makeRelease } from '../tests/helpers/setup.mjs';

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '8' },
    json: { type: 'string' },
    'no-ratelimits': { type: 'boolean', default: false },
    profile: { type: 'string' },
    build: { type: 'string', default: join(REPO, 'worker', 'build') },
    // After the plain runs: add N running campaigns for the devices' product
    // (none admits them yet: a 0.01 % canary) and measure the checks again.
    campaigns: { type: 'string', default: '0' },
  },
});
const SECONDS = Number(opts.seconds);
const CONNECTIONS = Number(opts.connections);

const dir = tempDir('updraft-bench-');
const rootPath = makeRoot(dir, { product: 'acme-*' });
const secrets = edgeSecrets(join(dir, 'edge.key'));
const { workerOptions } = unstable_getMiniflareWorkerOptions(join(REPO, 'wrangler.toml'));
// Limits far above what the benchmark sends: measure the check, not the 429 path.
const ratelimits = Object.fromEntries(
  Object.entries(workerOptions.ratelimits).map(([k, v]) => [k, { ...v, simple: { limit: 1e9, period: 60 } }]),
);

const mf = new Miniflare({
  host: '127.0.0.1',
  port: 0,
  ...(opts.profile ? { inspectorPort: 9235 } : {}),
  workers: [
    {
      name: 'updraft',
      scriptPath: join(opts.build, 'index.js'),
      modules: true,
      modulesRules: workerOptions.modulesRules,
      compatibilityDate: workerOptions.compatibilityDate,
      d1Databases: { DB: 'bench' },
      durableObjects: workerOptions.durableObjects,
      r2Buckets: { ARTIFACTS: 'bench' },
      ratelimits: opts['no-ratelimits'] ? {} : ratelimits,
      bindings: { ...workerOptions.bindings, ...secrets },
      unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
    },
    {
      name: 'constant',
      modules: true,
      compatibilityDate: workerOptions.compatibilityDate,
      script: `const body = JSON.stringify({ status: 'ok', service: 'constant', padding: 'xxxxxxxxxxxxxxxxxxxxxxx' });
        export default { fetch() { return new Response(body, { headers: { 'content-type': 'application/json' } }); } };`,
      unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
    },
  ],
});
await mf.ready;
const edge = (await mf.unsafeGetDirectURL('updraft')).toString().replace(/\/$/, '');
const constant = (await mf.unsafeGetDirectURL('constant')).toString().replace(/\/$/, '');
await applyMigrations(await mf.getD1Database('DB', 'updraft'));

const admin = (method, path, body) =>
  fetch(edge + path, { method, body, headers: { authorization: `Bearer ${secrets.UPDRAFT_BOOTSTRAP_TOKEN}` } });
const must = async (res) => {
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  return res.json();
};
await must(await admin('POST', '/api/roots', readFileSync(rootPath, 'utf8')));
const approver = (await must(await admin('POST', '/api/tokens', JSON.stringify({ name: 'bench approver', role: 'approver' })))).token;
const enroll = (await must(await admin('POST', '/api/enroll-tokens', JSON.stringify({ name: 'bench', product: 'acme-thermostat', max_uses: 10 })))).token;

// One release for thermo-v2; the "update" device runs 0.9.0 of it, the "none" device a newer one.
const rel = makeRelease(dir, { version: '1.0.0', size: 256 * 1024 });
await must(await admin('PUT', `/api/artifacts/${rel.sha256}`, rel.bytes));
const created = await must(await admin('POST', '/api/releases', rel.envelope));
await must(await fetch(`${edge}/api/releases/${created.id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${approver}` } }));

function device(name) {
  const out = join(dir, name);
  updraft(['device', 'enroll', '--server', edge, '--enroll-token', enroll, '--key', `${out}.key`, '--hardware-id', 'thermo-v2', '--serial', name, '--out', out]);
  return { dir: out, key: `${out}.key` };
}

/** A signed check, reusable for the length of the benchmark (ts window ±300 s). */
function signedCheck(d, version) {
  const body = JSON.stringify({
    current: { version, sha256: 'cd'.repeat(32), security_version: 1 },
    battery: 90, network: 'wifi', tz: 'America/Denver',
    nonce: 'benchmark-nonce-0123456789', root_version: 1, revocation_seq: 0,
  });
  const file = join(d.dir, 'body.json');
  writeFileSync(file, body);
  const auth = updraft(['device', 'sign-request', '--key', d.key, '--cert', join(d.dir, 'cert.json'), '--method', 'POST', '--path', '/v1/check', '--body', file]).trim();
  return { method: 'POST', body, headers: { authorization: auth, 'content-type': 'application/json' } };
}

const noneReq = signedCheck(device('dev-none'), '2.0.0');
const updateReq = signedCheck(device('dev-update'), '0.9.0');
for (const [req, want] of [[noneReq, '"type":"none"'], [updateReq, '"type":"update"']]) {
  const env = await must(await fetch(`${edge}/v1/check`, req));
  const payload = Buffer.from(env.payload, 'base64').toString('utf8');
  if (!payload.includes(want)) throw new Error(`expected ${want} in ${payload}`);
}

function workerdCpuSeconds() {
  // Miniflare runs one workerd child; sum utime+stime of every workerd we started.
  const pids = execFileSync('pgrep', ['-P', String(process.pid), '-f', 'workerd'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  const tick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
  let total = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += (Number(fields[11]) + Number(fields[12])) / tick;
  }
  return total;
}

async function run(name, url, req = {}) {
  await autocannon({ url, duration: 2, connections: CONNECTIONS, ...req }); // warm-up
  const cpu0 = workerdCpuSeconds();
  const r = await autocannon({ url, duration: SECONDS, connections: CONNECTIONS, ...req });
  const cpu = workerdCpuSeconds() - cpu0;
  const ok = r['2xx'];
  return {
    name,
    rps: Math.round(ok / SECONDS),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    non2xx: r.non2xx + r.errors,
    cpu_us_per_req: ok ? Math.round((cpu / ok) * 1e6) : null,
  };
}

if (opts.profile) {
  // CPU profile of the no-update check through workerd's inspector (V8 CDP);
  // self time is summed by function name (wasm names come from the names section).
  const { profileWhile } = await import('./profile.mjs');
  const top = await profileWhile(9235, 'updraft', () => autocannon({ url: `${edge}/v1/check`, duration: 5, connections: CONNECTIONS, ...noneReq }));
  writeFileSync(opts.profile, top.map((r) => `${r.selfMs.toFixed(1).padStart(9)} ms ${r.pct.toFixed(1).padStart(5)} %  ${r.name}`).join('\n') + '\n');
  console.log(`profile written to ${opts.profile}`);
}

const results = [];
results.push(await run('constant worker (ceiling)', `${constant}/`));
results.push(await run('updraft GET /healthz', `${edge}/healthz`));
results.push(await run('check, no update', `${edge}/v1/check`, noneReq));
results.push(await run('check, update offered', `${edge}/v1/check`, updateReq));

const CAMPAIGNS = Number(opts.campaigns);
if (CAMPAIGNS > 0) {
  const operator = (await must(await admin('POST', '/api/tokens', JSON.stringify({ name: 'bench operator', role: 'operator' })))).token;
  const as = (token, method, path, body) => fetch(edge + path, { method, body, headers: { authorization: `Bearer ${token}` } });
  for (let i = 0; i < CAMPAIGNS; i++) {
    const spec = {
      name: `bench campaign ${i}`,
      release_id: created.id,
      selector: { hardware_ids: ['thermo-v2'] },
      waves: [{ name: 'canary', percent: 0.01, min_soak_minutes: 60, gate: { min_finished: 100, max_failure_rate: 0.05 } },
        { name: 'everyone', percent: 100, min_soak_minutes: 60, gate: { min_finished: 100, max_failure_rate: 0.05 } }],
      windows: { allowed: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00', end: '23:59' }] },
      eligibility: { min_battery_percent: 20 },
      budgets: { max_starts_per_minute: 100, max_in_flight: 100 },
      deadline_s: 86400,
      priority: i,
      salt: `bench-campaign-salt-${String(i).padStart(4, '0')}`,
    };
    const c = await must(await as(operator, 'POST', '/api/campaigns', JSON.stringify(spec)));
    await must(await as(approver, 'POST', `/api/campaigns/${c.id}/approve`));
    await must(await as(operator, 'POST', `/api/campaigns/${c.id}/start`));
  }
  await new Promise((r) => setTimeout(r, 6000)); // past the isolate catalog's TTL
  for (const req of [noneReq, updateReq]) {
    const env = await must(await fetch(`${edge}/v1/check`, req));
    const payload = Buffer.from(env.payload, 'base64').toString('utf8');
    if (!payload.includes('"type":"none"')) throw new Error(`with ${CAMPAIGNS} campaigns no device is admitted yet: ${payload}`);
  }
  results.push(await run(`check, newer device, ${CAMPAIGNS} campaigns`, `${edge}/v1/check`, noneReq));
  results.push(await run(`check, not yet admitted by ${CAMPAIGNS} campaigns`, `${edge}/v1/check`, updateReq));
}
await mf.dispose();

const ceiling = results[0].rps;
console.log(`\n${SECONDS}s per run, ${CONNECTIONS} connections, workerd via Miniflare direct sockets on 127.0.0.1\n`);
console.log('| endpoint | req/s | % of ceiling | p50 ms | p99 ms | workerd CPU µs/req | non-2xx |');
console.log('|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.name} | ${r.rps} | ${Math.round((100 * r.rps) / ceiling)} % | ${r.p50_ms} | ${r.p99_ms} | ${r.cpu_us_per_req} | ${r.non2xx} |`);
}
if (opts.json) writeFileSync(opts.json, JSON.stringify({ seconds: SECONDS, connections: CONNECTIONS, results }, null, 2));
