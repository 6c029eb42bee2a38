// The hot-path catalog lives in isolate memory with a TTL of at most 5 s
// (DESIGN §5): a warm check reads no D1, and a change behind the edge's back
// is seen within the TTL. Proven by deleting an approved release directly in
// D1 (not through the API, which would invalidate the catalog at once).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { updraft } from './helpers/cli.mjs';

let s;
let device;
before(async () => {
  s = await readyEdge();
  const t = await (await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'ttl', product: 'acme-thermostat' } })).json();
  device = { dir: join(s.dir, 'ttl-device'), key: join(s.dir, 'ttl-device.key') };
  updraft(['device', 'enroll', '--server', s.edge.url, '--enroll-token', t.token, '--key', device.key, '--hardware-id', 'thermo-v2', '--serial', 'TTL-1', '--out', device.dir]);
});
after(() => s?.stop());

const action = () =>
  JSON.parse(updraft(['--json', 'device', 'check', '--server', s.edge.url, '--dir', device.dir, '--key', device.key,
    '--version', '0.1.0', '--sha256', 'cd'.repeat(32), '--security-version', '1'])).action.type;

test('a warm check is answered from isolate memory, and a D1 change shows within 5 s', async (t) => {
  const r = makeRelease(s.dir, { version: '1.0.0' });
  await s.api('PUT', `/api/artifacts/${r.sha256}`, { token: s.tokens.uploader, body: r.bytes });
  const rel = await (await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: r.envelope })).json();
  await s.api('POST', `/api/releases/${rel.id}/approve`, { token: s.tokens.approver });
  assert.equal(action(), 'update'); // loads the catalog

  await s.edge.db.prepare('DELETE FROM releases WHERE id = ?1').bind(rel.id).run();
  const deletedAt = Date.now();
  assert.equal(action(), 'update', 'a warm check must not read D1');

  let seenAfter = null;
  while (Date.now() - deletedAt < 8000) {
    if (action() === 'none') {
      seenAfter = Date.now() - deletedAt;
      break;
    }
    await new Promise((r) => setTimeout(r, 1000)); // stays under the 20 checks/min device limit
  }
  assert.ok(seenAfter !== null, 'the deletion was never seen');
  t.diagnostic(`deletion seen by checks after ${seenAfter} ms`);
  // TTL 5 s, plus at most one 1 s polling step and a check's own time.
  assert.ok(seenAfter <= 6500, `seen after ${seenAfter} ms, the TTL is 5 s`);
});
