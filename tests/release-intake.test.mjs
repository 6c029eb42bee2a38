// Release intake over HTTP: root publication by chain, artifact upload with the
// hash checked by R2, signed manifests verified against the root, two-person approval.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { expectProblem } from './helpers/edge.mjs';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { updraft } from './helpers/cli.mjs';
import { envelope, loadKey, RELEASE_TYPE } from './helpers/forge.mjs';

let s;
before(async () => {
  s = await readyEdge();
});
after(() => s?.stop());

const put = (sha, bytes, token = s.tokens.uploader, headers = {}) =>
  s.api('PUT', `/api/artifacts/${sha}`, { token, body: bytes, headers: { 'content-type': 'application/octet-stream', ...headers } });

async function count(table) {
  return (await s.edge.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).first()).n;
}

test('root n+2 without n+1 is refused: root-version-skip', async () => {
  const v2 = join(s.dir, 'root-2.json');
  const v3 = join(s.dir, 'root-3.json');
  updraft(['root', 'rotate', '--from', s.rootPath, '--out', v2, '--sign', join(s.dir, 'root.key')]);
  updraft(['root', 'rotate', '--from', v2, '--out', v3, '--sign', join(s.dir, 'root.key')]);
  const res = await s.api('POST', '/api/roots', { body: readFileSync(v3, 'utf8') });
  await expectProblem(assert, res, 422, 'root-version-skip');
  assert.equal((await s.edge.fetch('/v1/root/3.json')).status, 404);

  const ok = await s.api('POST', '/api/roots', { body: readFileSync(v2, 'utf8') });
  assert.equal(ok.status, 201);
  assert.equal((await ok.json()).version, 2);
  const served = await s.edge.fetch('/v1/root/2.json');
  assert.equal(served.status, 200);
  assert.equal(served.headers.get('cache-control'), 'public, max-age=31536000, immutable');
});

test('a root rotation not signed by the current root keys is refused', async () => {
  const rogue = join(s.dir, 'rogue.key');
  updraft(['keys', 'generate', '--out', rogue]);
  const v3 = join(s.dir, 'root-3-rogue.json');
  updraft(['root', 'rotate', '--from', join(s.dir, 'root-2.json'), '--root-key', `${rogue}.pub`, '--root-threshold', '1', '--out', v3, '--sign', rogue]);
  const res = await s.api('POST', '/api/roots', { body: readFileSync(v3, 'utf8') });
  await expectProblem(assert, res, 422, 'signature-threshold-not-met');
});

test('uploads an artifact streamed into R2 and is idempotent', async () => {
  const r = makeRelease(s.dir, { version: '1.0.0' });
  const res = await put(r.sha256, r.bytes);
  assert.equal(res.status, 201);
  assert.deepEqual(await res.json(), { sha256: r.sha256, length: r.length, created: true });
  const again = await put(r.sha256, r.bytes);
  assert.equal(again.status, 200);
  assert.equal((await again.json()).created, false);
});

test('an artifact whose bytes do not match its SHA-256 stores nothing', async () => {
  const r = makeRelease(s.dir, { version: '1.0.1' });
  const tampered = Buffer.from(r.bytes);
  tampered[100] ^= 0xff;
  const before = await count('artifacts');
  const res = await put(r.sha256, tampered);
  await expectProblem(assert, res, 422, 'artifact-hash-mismatch');
  assert.equal(await count('artifacts'), before);
  assert.equal(await (await s.edge.mf.getR2Bucket('ARTIFACTS')).head(r.sha256), null);
});

test('an upload without Content-Length is refused with 411', async () => {
  const r = makeRelease(s.dir, { version: '1.0.2' });
  const stream = new ReadableStream({ start(c) { c.enqueue(r.bytes); c.close(); } });
  const res = await s.edge.fetch(`/api/artifacts/${r.sha256}`, {
    method: 'PUT', body: stream, duplex: 'half', headers: { authorization: `Bearer ${s.tokens.uploader}` },
  });
  await expectProblem(assert, res, 411, 'length-required');
});

test('a release signed by a non-release key is refused', async () => {
  const r = makeRelease(s.dir, { version: '2.0.0', signWith: 'edge.key' });
  await put(r.sha256, r.bytes);
  const res = await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: r.envelope });
  const body = await expectProblem(assert, res, 422, 'signature-threshold-not-met');
  assert.match(body.detail, /release role/);
});

test('a release whose artifact was not uploaded is refused', async () => {
  const r = makeRelease(s.dir, { version: '2.0.1' });
  const res = await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: r.envelope });
  await expectProblem(assert, res, 422, 'artifact-missing');
});

test('a release whose manifest length differs from the stored artifact is refused', async () => {
  const r = makeRelease(s.dir, { version: '2.0.3' });
  await put(r.sha256, r.bytes);
  // Signed by the real release key, but claiming one byte more than was uploaded.
  const lying = { ...r.manifest, artifact: { ...r.manifest.artifact, length: r.length + 1 } };
  const env = envelope(RELEASE_TYPE, lying, [loadKey(join(s.dir, 'release.key'))]);
  const before = await count('releases');
  const res = await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: JSON.stringify(env) });
  const body = await expectProblem(assert, res, 422, 'artifact-length-mismatch');
  assert.match(body.detail, new RegExp(`${r.length}`));
  assert.equal(await count('releases'), before);
});

test('a release for a product outside the root scope is refused', async () => {
  const r = makeRelease(s.dir, { version: '2.0.2', product: 'other-toaster' });
  await put(r.sha256, r.bytes);
  const res = await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: r.envelope });
  await expectProblem(assert, res, 422, 'product-out-of-scope');
});

test('registers a signed release, and only another person can approve it', async () => {
  const r = makeRelease(s.dir, { version: '3.0.0', securityVersion: 2 });
  await put(r.sha256, r.bytes);
  const res = await s.api('POST', '/api/releases', { token: s.tokens.approver, body: r.envelope }).catch(() => null);
  // An approver cannot upload: the role check comes first.
  await expectProblem(assert, res, 403, 'forbidden-role');

  const created = await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: r.envelope });
  assert.equal(created.status, 201);
  const rel = await created.json();
  assert.equal(rel.status, 'pending');
  assert.equal(rel.version, '3.0.0');
  assert.equal(rel.signers.length, 1);

  const dup = await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: r.envelope });
  await expectProblem(assert, dup, 409, 'release-exists');

  // The bootstrap admin uploads one too, then tries to approve its own upload.
  const r2 = makeRelease(s.dir, { version: '3.0.1', securityVersion: 2 });
  await put(r2.sha256, r2.bytes, s.tokens.admin);
  const mine = await (await s.api('POST', '/api/releases', { token: s.tokens.admin, body: r2.envelope })).json();
  const self = await s.api('POST', `/api/releases/${mine.id}/approve`, { token: s.tokens.admin });
  await expectProblem(assert, self, 403, 'two-person-rule');

  const approved = await s.api('POST', `/api/releases/${rel.id}/approve`, { token: s.tokens.approver });
  assert.equal(approved.status, 200);
  const row = await approved.json();
  assert.equal(row.status, 'approved');
  assert.ok(row.approved_by && row.approved_by !== row.uploaded_by);

  const twice = await s.api('POST', `/api/releases/${rel.id}/approve`, { token: s.tokens.approver2 });
  await expectProblem(assert, twice, 409, 'already-approved');

  const list = await (await s.api('GET', '/api/releases', { token: s.tokens.viewer })).json();
  assert.ok(list.some((x) => x.id === rel.id && x.status === 'approved'));
  const one = await (await s.api('GET', `/api/releases/${rel.id}`, { token: s.tokens.viewer })).json();
  assert.equal(one.manifest.artifact.sha256, r.sha256);
});

test('a missing release is a 404 problem', async () => {
  const res = await s.api('POST', '/api/releases/rel-0000/approve', { token: s.tokens.approver });
  await expectProblem(assert, res, 404, 'not-found');
});
