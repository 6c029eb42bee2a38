// An edge whose secrets can change while it runs, for the key-rotation and
// disaster-recovery runbooks (tests/docs/*.setup.mjs): the built worker in
// Miniflare, as tests/helpers/edge.mjs starts it, plus
//   restart(bindings)   restarts workerd with some bindings replaced (a new
//                       UPDRAFT_EDGE_KEY, say), keeping D1, R2, the Durable
//                       Objects and the cache: what `wrangler secret put` does
//                       to a deployed worker (a new version, fresh isolates,
//                       same storage);
//   control             a tiny HTTP server on 127.0.0.1 that takes
//                       `PUT /secrets/NAME` (the value as the body) and
//                       restarts the edge with it, so a runbook's shell can
//                       "put a secret" with tests/helpers/local-secret-put.sh.
//
// readyKeyedEdge() is readyEdge() (tests/helpers/setup.mjs) with the root
// made here, so it can have several root keys and a threshold.
import http from 'node:http';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { applyMigrations, edgeBindings, edgeOptions } from './edge.mjs';
import { updraft } from './cli.mjs';
import { readyEdge } from './setup.mjs';

/** Like startEdge(), plus restart(bindings). */
export async function startRestartableEdge({ bindings = {}, outbound } = {}) {
  const suite = `${process.pid}-${Date.now()}`;
  let current = edgeBindings(bindings);
  // Miniflare picks a free port at first; restarts keep it (devices and the runbook hold the URL).
  const options = (b) => edgeOptions({ bindings: b, outbound, suite });
  const mf = new Miniflare(options(current));
  const url = (await mf.ready).toString().replace(/\/$/, '');
  const port = Number(new URL(url).port);
  const db = await mf.getD1Database('DB');
  await applyMigrations(db);
  const edge = {
    url,
    mf,
    db,
    get bindings() { return current; },
    fetch: (path, init) => fetch(url + path, init),
    /** Restarts workerd with `changed` bindings; storage survives (same Miniflare instance). */
    async restart(changed) {
      current = { ...current, ...changed };
      await mf.setOptions({ ...options(current), port });
      await mf.ready;
      edge.db = await mf.getD1Database('DB');
    },
    stop: () => mf.dispose(),
  };
  return edge;
}

/**
 * Serves `PUT /secrets/NAME` on 127.0.0.1: restarts `edge` with NAME set to
 * the request body. Returns { url, puts: [{ name, at }], stop() }.
 */
export async function secretControl(edge) {
  const puts = [];
  const server = http.createServer(async (req, res) => {
    const m = /^\/secrets\/([A-Z][A-Z0-9_]*)$/.exec(req.url ?? '');
    if (req.method !== 'PUT' || !m) {
      res.writeHead(404).end('PUT /secrets/NAME\n');
      return;
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const value = Buffer.concat(chunks).toString('utf8');
    if (!value.trim()) {
      res.writeHead(400).end(`empty value for ${m[1]}\n`);
      return;
    }
    try {
      await edge.restart({ [m[1]]: value });
      puts.push({ name: m[1], at: Date.now() });
      res.writeHead(200).end(`${m[1]} set; the local edge restarted\n`);
    } catch (e) {
      res.writeHead(500).end(`restart failed: ${e.message}\n`);
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, puts, stop: () => new Promise((r) => server.close(r)) };
}

/**
 * Keys and a signed root v1 in `dir`: `rootKeys` root keys (root-a.key,
 * root-b.key, …) with `rootThreshold`, release.key, edge.key. v1 is signed by
 * the first `rootThreshold` root keys. Returns the root's path.
 */
export function makeThresholdRoot(dir, { product = 'acme-*', rootKeys = 3, rootThreshold = 2 } = {}) {
  const names = Array.from({ length: rootKeys }, (_, i) => `root-${String.fromCharCode(97 + i)}`);
  for (const k of [...names, 'release', 'edge']) updraft(['keys', 'generate', '--out', join(dir, `${k}.key`)]);
  const path = join(dir, 'root-1.json');
  const args = ['root', 'init', '--product', product];
  for (const n of names) args.push('--root-key', join(dir, `${n}.key.pub`));
  args.push('--root-threshold', String(rootThreshold),
    '--release-key', join(dir, 'release.key.pub'), '--release-threshold', '1',
    '--edge-key', join(dir, 'edge.key.pub'), '--out', path);
  for (const n of names.slice(0, rootThreshold)) args.push('--sign', join(dir, `${n}.key`));
  updraft(args);
  return path;
}

/**
 * readyEdge() on a restartable edge with a threshold root: root v1
 * published, a token per role (and `approver2`). Returns { edge, dir,
 * rootPath, secrets, api, tokens, stop }.
 */
export async function readyKeyedEdge({ bindings = {}, outbound, rootKeys = 3, rootThreshold = 2 } = {}) {
  return readyEdge({
    bindings,
    outbound,
    makeRootIn: (dir) => makeThresholdRoot(dir, { rootKeys, rootThreshold }),
    start: ({ bindings: b, outbound: o }) => startRestartableEdge({ bindings: b, outbound: o }),
  });
}
