// The edge skeleton over HTTP: health, root serving and its cache headers,
// problem+json for every error. Runs the built wasm worker in workerd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { expectProblem } from './helpers/edge.mjs';
import { readyEdge } from './helpers/setup.mjs';

let s;
let edge;
const root = {};

before(async () => {
  s = await readyEdge();
  edge = s.edge;
  root.file = JSON.parse(readFileSync(s.rootPath, 'utf8'));
});

after(() => s?.stop());

test('healthz answers ok and is never cached', async () => {
  const res = await edge.fetch('/healthz');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const body = await res.json();
  assert.equal(body.status, 'ok');
  assert.equal(body.service, 'updraft-edge');
});

test('serves the published root with immutable caching and an ETag of its bytes', async () => {
  const res = await edge.fetch('/v1/root/1.json');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  const text = await res.text();
  assert.deepEqual(JSON.parse(text), root.file);
  root.etag = `"${createHash('sha256').update(text).digest('hex')}"`;
  assert.equal(res.headers.get('etag'), root.etag);
});

test('HEAD on a root returns the headers without a body', async () => {
  const res = await edge.fetch('/v1/root/1.json', { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('etag'), root.etag);
  assert.equal((await res.arrayBuffer()).byteLength, 0);
});

test('an unpublished root is a 404 problem that is never cached', async () => {
  const res = await edge.fetch('/v1/root/2.json');
  await expectProblem(assert, res, 404, 'root-not-found');
  assert.equal(res.headers.get('cache-control'), 'no-store');
});

test('non-canonical root URLs are not found', async () => {
  for (const path of ['/v1/root/01.json', '/v1/root/0.json', '/v1/root/1', '/v1/root/-1.json', '/v1/root/1.json.bak']) {
    const res = await edge.fetch(path);
    await expectProblem(assert, res, 404, 'not-found');
  }
});

test('unknown routes answer problem+json 404', async () => {
  // `/` is the admin UI (wrangler.toml [assets]; tests/ui-admin.test.mjs); paths without an asset reach the worker.
  for (const path of ['/nope', '/v1', '/v1/root', '/%00', '/v1/root/%2e%2e/1.json', '/index.htm', '/assets/nope.js']) {
    const res = await edge.fetch(path);
    await expectProblem(assert, res, 404, 'not-found');
    assert.equal(res.headers.get('cache-control'), 'no-store');
  }
});

test('a wrong method answers problem+json 405 with Allow', async () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const res = await edge.fetch('/v1/root/1.json', { method, body: method === 'DELETE' ? undefined : 'x' });
    await expectProblem(assert, res, 405, 'method-not-allowed');
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
  }
});

test('a long hostile path does not bloat the error', async () => {
  const res = await edge.fetch('/' + 'a'.repeat(8000));
  const body = await expectProblem(assert, res, 404, 'not-found');
  assert.ok(body.detail.length < 400, `detail is ${body.detail.length} chars`);
});

test('the worker keeps serving after every error above (no isolate panic)', async () => {
  const res = await edge.fetch('/healthz');
  assert.equal(res.status, 200);
});
