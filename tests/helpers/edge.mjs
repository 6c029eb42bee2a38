// Test harness: runs the BUILT wasm worker (worker/build) in workerd through
// Miniflare, with local D1, R2 and the Cache API, fresh (in-memory) state per
// call, listening on 127.0.0.1 on a free port. Tests talk plain HTTP to it.
import { Miniflare } from 'miniflare';
import { readdir, readFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILD = join(REPO, 'worker', 'build', 'index.js');

/** Applies migrations/*.sql in order, as `wrangler d1 migrations apply` does. */
export async function applyMigrations(db) {
  const dir = join(REPO, 'migrations');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  for (const file of files) {
    const sql = await readFile(join(dir, file), 'utf8');
    const statements = sql
      .split('\n')
      .filter((line) => !line.trim().startsWith('--'))
      .map((line) => line.replace(/\s--\s.*$/, ''))
      .join('\n')
      .split(';')
      .map((s) => s.trim())
      .filter(Boolean);
    await db.batch(statements.map((s) => db.prepare(s)));
  }
}

/** Secrets a test edge runs with; the edge key comes from the test's root keys. */
export function edgeSecrets(edgeKeyPath) {
  return {
    UPDRAFT_EDGE_KEY: readFileSync(edgeKeyPath, 'utf8'),
    UPDRAFT_DOWNLOAD_SECRET: randomBytes(32).toString('hex'),
    UPDRAFT_BOOTSTRAP_TOKEN: `boot_${randomBytes(24).toString('hex')}`,
  };
}

/**
 * Starts the edge with the bindings of wrangler.toml (D1, R2, Durable
 * Objects, rate limits, vars), fresh in-memory state, on 127.0.0.1 and a free port.
 * Options: bindings (extra vars/secrets, e.g. from edgeSecrets()), unlimited
 * (rate limits raised out of the way), outbound (a function answering the
 * worker's outbound fetches).
 * Returns { url, mf, db, fetch(path, init), stop() }.
 */
/**
 * Miniflare options for the built worker with wrangler.toml's bindings.
 * `bindings` are the worker's vars and secrets in full (wrangler.toml's vars
 * are NOT added here: see startEdge); `suite` names the storage.
 */
export function edgeOptions({ bindings, unlimited = false, outbound, suite }) {
  if (!existsSync(BUILD)) throw new Error(`${BUILD} is missing: run 'make build' first`);
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(REPO, 'wrangler.toml'));
  return {
    scriptPath: BUILD,
    modules: true,
    modulesRules: workerOptions.modulesRules,
    compatibilityDate: workerOptions.compatibilityDate,
    compatibilityFlags: workerOptions.compatibilityFlags,
    d1Databases: { DB: `updraft-test-${suite}` },
    r2Buckets: { ARTIFACTS: `updraft-artifacts-${suite}` },
    // The campaigns' Durable Object (SQLite-backed), exported by the built bundle.
    durableObjects: workerOptions.durableObjects,
    // The admin UI (admin-ui/dist, wrangler.toml [assets]): /api/*, /v1/* and
    // /healthz run the worker first, anything else is a static file.
    assets: workerOptions.assets,
    // `unlimited`: suites that run hundreds of devices from one IP raise every
    // limit (the limits themselves are tested in request-hygiene).
    ratelimits: unlimited
      ? Object.fromEntries(Object.entries(workerOptions.ratelimits ?? {}).map(([k, v]) => [k, { ...v, simple: { limit: 1_000_000, period: 60 } }]))
      : workerOptions.ratelimits,
    bindings,
    // `outbound(request)`: every fetch the worker makes to another host goes
    // here (Miniflare's outbound interception), e.g. a stand-in of
    // Cloudflare's purge API. Without it, outbound requests fail (no network).
    ...(outbound ? { outboundService: outbound } : {}),
    host: '127.0.0.1',
    port: 0,
  };
}

/** wrangler.toml's vars with the test's on top. */
export function edgeBindings(bindings = {}) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(REPO, 'wrangler.toml'));
  return { ...workerOptions.bindings, UPDRAFT_ENV: 'test', ...bindings };
}

export async function startEdge({ bindings = {}, unlimited = false, outbound } = {}) {
  const suite = `${process.pid}-${Date.now()}`;
  const mf = new Miniflare(edgeOptions({ bindings: edgeBindings(bindings), unlimited, outbound, suite }));
  const url = (await mf.ready).toString().replace(/\/$/, '');
  const db = await mf.getD1Database('DB');
  await applyMigrations(db);
  return {
    url,
    mf,
    db,
    bindings,
    fetch: (path, init) => fetch(url + path, init),
    stop: () => mf.dispose(),
  };
}

/** Asserts that `res` is an RFC 9457 problem and returns its parsed body. */
export async function expectProblem(assert, res, status, slug) {
  assert.equal(res.status, status, `status of ${res.url}`);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  const body = await res.json();
  assert.equal(body.status, status);
  assert.equal(typeof body.title, 'string');
  assert.equal(typeof body.detail, 'string');
  if (slug) assert.equal(body.type, `urn:updraft:problem:${slug}`);
  return body;
}
