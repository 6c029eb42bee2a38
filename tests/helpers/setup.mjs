// A ready edge for a suite: keys and a signed root v1 made with the real CLI,
// the built worker in Miniflare with its secrets, root v1 published through
// the admin API, and one API token per role.
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { startEdge, edgeSecrets } from './edge.mjs';
import { makeRoot, tempDir, updraft } from './cli.mjs';

export const ROLES = ['uploader', 'approver', 'operator', 'security', 'viewer', 'admin'];

/**
 * Options: product (the root's scope), unlimited, bindings, outbound (see
 * startEdge); `makeRootIn(dir)` writes the keys and root v1 into dir and
 * returns the root's path (default: one root key, tests/helpers/cli.mjs
 * makeRoot), `start(options)` starts the edge (default: startEdge).
 */
export async function readyEdge({ product = 'acme-*', unlimited = false, bindings = {}, outbound, makeRootIn, start = startEdge } = {}) {
  const dir = tempDir();
  const rootPath = makeRootIn ? makeRootIn(dir) : makeRoot(dir, { product });
  const secrets = edgeSecrets(join(dir, 'edge.key'));
  const edge = await start({ bindings: { ...secrets, ...bindings }, unlimited, outbound });
  const bootstrap = secrets.UPDRAFT_BOOTSTRAP_TOKEN;

  const api = async (method, path, { token = bootstrap, body, headers = {} } = {}) => {
    const init = { method, headers: { ...headers } };
    if (token) init.headers.authorization = `Bearer ${token}`;
    if (body !== undefined) {
      init.body = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
      if (!(body instanceof Uint8Array) && !init.headers['content-type']) init.headers['content-type'] = 'application/json';
    }
    return edge.fetch(path, init);
  };

  const res = await api('POST', '/api/roots', { body: readFileSync(rootPath, 'utf8') });
  if (res.status !== 201) throw new Error(`publishing root v1 failed: ${res.status} ${await res.text()}`);

  const tokens = { admin: bootstrap };
  for (const role of ROLES.filter((r) => r !== 'admin')) {
    const r = await api('POST', '/api/tokens', { body: { name: `${role} person`, role } });
    if (r.status !== 201) throw new Error(`creating ${role} token: ${r.status} ${await r.text()}`);
    tokens[role] = (await r.json()).token;
  }
  // A second approver, to show the two-person rule is about people, not roles.
  tokens.approver2 = (await (await api('POST', '/api/tokens', { body: { name: 'second approver', role: 'approver' } })).json()).token;

  return { edge, dir, rootPath, secrets, api, tokens, stop: () => edge.stop() };
}

/**
 * Makes a firmware file and a release manifest signed by the release key.
 * Returns { firmware, manifestPath, manifest (payload), envelope (text), sha256, length }.
 */
export function makeRelease(dir, { version = '1.0.0', securityVersion = 1, hardware = ['thermo-v2'], product = 'acme-thermostat', size = 64 * 1024, signWith = 'release.key', marker } = {}) {
  const firmware = join(dir, `fw-${product}-${version}.img`);
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + version.length * 7 + securityVersion) & 0xff;
  bytes.write(`${product} ${version}`, 0);
  // Text the simulator reads from an image (e.g. UPDRAFT-SIM-BOOT-FAILURE-RATE=0.30).
  if (marker) bytes.write(`\n${marker}\n`, 64);
  writeFileSync(firmware, bytes);
  const manifestPath = join(dir, `release-${product}-${version}.json`);
  const args = ['release', 'create', '--firmware', firmware, '--product', product, '--version', version,
    '--security-version', String(securityVersion), '--out', manifestPath, '--force'];
  for (const h of hardware) args.push('--hardware-id', h);
  if (signWith) args.push('--sign', join(dir, signWith));
  updraft(args);
  const envelope = readFileSync(manifestPath, 'utf8');
  const manifest = JSON.parse(Buffer.from(JSON.parse(envelope).payload, 'base64').toString('utf8'));
  return { firmware, bytes, manifestPath, envelope, manifest, sha256: manifest.artifact.sha256, length: manifest.artifact.length };
}
