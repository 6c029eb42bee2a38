// The device side of the edge over HTTP, with the real CLI acting as the
// device (it signs with core's device_auth): enrollment, signed checks,
// artifact delivery, and the attacks the edge can see.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { expectProblem } from './helpers/edge.mjs';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { updraft } from './helpers/cli.mjs';
import { loadKey, envelope, CERT_TYPE } from './helpers/forge.mjs';

let s;
let serial = 0;

before(async () => {
  s = await readyEdge();
});
after(() => s?.stop());

async function enrollToken(opts = {}) {
  const res = await s.api('POST', '/api/enroll-tokens', {
    token: s.tokens.operator,
    body: { name: 'line 3', product: 'acme-thermostat', max_uses: 10, ...opts },
  });
  assert.equal(res.status, 201, await res.clone().text());
  return res.json();
}

/** Enrolls a device with the CLI; returns { dir, key, id }. */
function enroll(token, hardware = 'thermo-v2') {
  serial += 1;
  const dir = join(s.dir, `device-${serial}`);
  const key = join(s.dir, `device-${serial}.key`);
  const out = updraft(['--json', 'device', 'enroll', '--server', s.edge.url, '--enroll-token', token, '--key', key,
    '--hardware-id', hardware, '--serial', `SN-${serial}`, '--out', dir]);
  return { dir, key, id: JSON.parse(out).device_id };
}

const FACTORY = { version: '0.9.0', sha256: 'cd'.repeat(32), security_version: 1 };

function checkBody(overrides = {}) {
  return JSON.stringify({
    current: FACTORY,
    battery: 80,
    network: 'wifi',
    tz: 'America/Chicago',
    nonce: `nonce-${Date.now()}-${Math.random().toString(16).slice(2)}`,
    root_version: 1,
    revocation_seq: 0,
    ...overrides,
  });
}

/** Signs `body` as device `d` with the CLI and POSTs it to /v1/check. */
function signedCheck(d, body, { ts, sendBody = body } = {}) {
  const bodyFile = join(d.dir, 'body.json');
  writeFileSync(bodyFile, body);
  const args = ['device', 'sign-request', '--key', d.key, '--cert', join(d.dir, 'cert.json'), '--method', 'POST', '--path', '/v1/check', '--body', bodyFile];
  if (ts !== undefined) args.push('--ts', String(ts));
  const auth = updraft(args).trim();
  return s.edge.fetch('/v1/check', { method: 'POST', body: sendBody, headers: { authorization: auth, 'content-type': 'application/json' } });
}

function cliCheck(d) {
  return JSON.parse(updraft(['--json', 'device', 'check', '--server', s.edge.url, '--dir', d.dir, '--key', d.key,
    '--version', FACTORY.version, '--sha256', FACTORY.sha256, '--security-version', String(FACTORY.security_version)]));
}

test('enrolls a device with a token and returns a certificate and the root', async () => {
  const t = await enrollToken({ max_uses: 2 });
  const d = enroll(t.token);
  assert.match(d.id, /^dev-[0-9a-f]{20}$/);
  const cert = JSON.parse(readFileSync(join(d.dir, 'cert.json'), 'utf8'));
  assert.equal(cert.payloadType, CERT_TYPE);
  const row = await s.edge.db.prepare('SELECT product, hardware_id FROM devices WHERE id = ?1').bind(d.id).first();
  assert.deepEqual(row, { product: 'acme-thermostat', hardware_id: 'thermo-v2' });
});

async function rawEnroll(token) {
  const key = loadKey(join(s.dir, 'edge.key')); // any 32-byte public key will do
  return s.edge.fetch('/v1/enroll', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, public_key: key.public, hardware_id: 'thermo-v2', serial: 'SN-raw' }),
  });
}

test('an exhausted, revoked, expired or unknown enrollment token fails clearly', async () => {
  const once = await enrollToken({ max_uses: 1 });
  assert.equal((await rawEnroll(once.token)).status, 201);
  await expectProblem(assert, await rawEnroll(once.token), 403, 'enroll-token-exhausted');

  const revoked = await enrollToken();
  assert.equal((await s.api('DELETE', `/api/enroll-tokens/${revoked.id}`, { token: s.tokens.operator })).status, 200);
  await expectProblem(assert, await rawEnroll(revoked.token), 403, 'enroll-token-revoked');

  const expired = await enrollToken();
  await s.edge.db.prepare('UPDATE enroll_tokens SET expires_at = 1 WHERE id = ?1').bind(expired.id).run();
  await expectProblem(assert, await rawEnroll(expired.token), 403, 'enroll-token-expired');

  await expectProblem(assert, await rawEnroll('enr_unknown'), 403, 'enroll-token-unknown');
});

test('enrollment tokens list their uses but never their secret', async () => {
  const t = await enrollToken({ max_uses: 3 });
  await rawEnroll(t.token);
  const list = await (await s.api('GET', '/api/enroll-tokens', { token: s.tokens.viewer })).json();
  const mine = list.find((x) => x.id === t.id);
  assert.equal(mine.uses, 1);
  assert.ok(!JSON.stringify(list).includes(t.token));
});

let device;
let release;

test('a check with nothing to install gets a signed "none" directive echoing the nonce', async () => {
  const t = await enrollToken();
  device = enroll(t.token);
  const out = cliCheck(device);
  assert.equal(out.action.type, 'none');
  assert.equal(out.device_id, device.id);
  assert.equal(out.root_version, 1);
  assert.ok(out.expires > out.issued_at);
  assert.ok(out.poll_after_s > 0);

  const body = checkBody({ nonce: 'fixed-nonce-0123456789' });
  const res = await signedCheck(device, body);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const env = await res.json();
  const payload = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
  assert.equal(payload.nonce, 'fixed-nonce-0123456789');
  assert.equal(env.signatures.length, 1);
});

test('after approval the device is offered the release, signed by the release key inside the edge-signed directive', async () => {
  release = makeRelease(s.dir, { version: '1.2.0', securityVersion: 1, size: 200_000 });
  const up = await s.api('PUT', `/api/artifacts/${release.sha256}`, { token: s.tokens.uploader, body: release.bytes });
  assert.equal(up.status, 201);
  const rel = await (await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: release.envelope })).json();
  assert.equal((await s.api('POST', `/api/releases/${rel.id}/approve`, { token: s.tokens.approver })).status, 200);

  const out = cliCheck(device);
  assert.equal(out.action.type, 'update');
  assert.match(out.action.download_url, new RegExp(`^/v1/artifacts/${release.sha256}\\?exp=\\d+&tok=[0-9a-f]{64}$`));
  device.downloadUrl = out.action.download_url;
});

test('a device of another hardware class is not offered it', async () => {
  const t = await enrollToken();
  const other = enroll(t.token, 'thermo-v1');
  assert.equal(cliCheck(other).action.type, 'none');
});

test('downloads the artifact: immutable, ETag, Range resume, HEAD, 416', async () => {
  const full = await s.edge.fetch(device.downloadUrl);
  assert.equal(full.status, 200);
  assert.equal(full.headers.get('etag'), `"${release.sha256}"`);
  assert.equal(full.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(full.headers.get('accept-ranges'), 'bytes');
  assert.deepEqual(Buffer.from(await full.arrayBuffer()), release.bytes);

  // Served again (from the cache entry of the canonical URL).
  const again = await s.edge.fetch(device.downloadUrl);
  assert.equal(again.status, 200);
  assert.deepEqual(Buffer.from(await again.arrayBuffer()), release.bytes);

  const part = await s.edge.fetch(device.downloadUrl, { headers: { range: 'bytes=1000-' } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get('content-range'), `bytes 1000-${release.length - 1}/${release.length}`);
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), release.bytes.subarray(1000));

  const head = await s.edge.fetch(device.downloadUrl, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(release.length));

  const beyond = await s.edge.fetch(device.downloadUrl, { headers: { range: `bytes=${release.length}-` } });
  await expectProblem(assert, beyond, 416, 'range-not-satisfiable');
  assert.equal(beyond.headers.get('content-range'), `bytes */${release.length}`);
});

test('the CLI downloads and verifies the artifact', () => {
  const out = join(device.dir, 'download.img');
  updraft(['device', 'download', '--server', s.edge.url, '--url', device.downloadUrl, '--out', out,
    '--expect-sha256', release.sha256, '--expect-length', String(release.length)]);
  assert.deepEqual(readFileSync(out), release.bytes);
});

test('artifact links with a bad, foreign or missing token are refused; a missing artifact is a no-store 404', async () => {
  const url = new URL(device.downloadUrl, s.edge.url);
  const tok = url.searchParams.get('tok');
  url.searchParams.set('tok', tok.replace(/^./, tok[0] === 'a' ? 'b' : 'a'));
  await expectProblem(assert, await s.edge.fetch(url.pathname + url.search), 401, 'bad-download-token');
  await expectProblem(assert, await s.edge.fetch(`/v1/artifacts/${release.sha256}`), 401, 'missing-download-token');
  const other = device.downloadUrl.replace(release.sha256, 'ef'.repeat(32));
  await expectProblem(assert, await s.edge.fetch(other), 401, 'bad-download-token');
});

test('a replayed check (timestamp outside ±300 s) is refused', async () => {
  const res = await signedCheck(device, checkBody(), { ts: Math.floor(Date.now() / 1000) - 301 });
  await expectProblem(assert, res, 401, 'stale-request');
  const future = await signedCheck(device, checkBody(), { ts: Math.floor(Date.now() / 1000) + 400 });
  await expectProblem(assert, future, 401, 'stale-request');
});

test('a tampered check body is refused', async () => {
  const body = checkBody();
  const res = await signedCheck(device, body, { sendBody: body.replace('"battery":80', '"battery":81') });
  await expectProblem(assert, res, 401, 'bad-request-signature');
});

test('a check without a signature, or with a garbled header, is refused', async () => {
  await expectProblem(assert, await s.edge.fetch('/v1/check', { method: 'POST', body: checkBody() }), 401, 'missing-authorization');
  const garbled = await s.edge.fetch('/v1/check', { method: 'POST', body: checkBody(), headers: { authorization: 'Updraft-Ed25519 cert=%%%, ts=1, sig=x' } });
  await expectProblem(assert, garbled, 401, 'bad-authorization-header');
});

function forgedCertCheck(signer, { expires } = {}) {
  // A device key the attacker controls, certified by `signer`.
  const deviceKey = loadKey(device.key);
  const now = Math.floor(Date.now() / 1000);
  const cert = envelope(CERT_TYPE, {
    device_id: device.id, product: 'acme-thermostat', hardware_id: 'thermo-v2', serial: 'SN-forged',
    public: deviceKey.public, issued_at: now - 100, expires: expires ?? now + 3600,
  }, [signer]);
  const certPath = join(s.dir, `forged-cert-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(certPath, JSON.stringify(cert));
  const body = checkBody();
  const bodyFile = join(s.dir, 'forged-body.json');
  writeFileSync(bodyFile, body);
  const auth = updraft(['device', 'sign-request', '--key', device.key, '--cert', certPath, '--method', 'POST', '--path', '/v1/check', '--body', bodyFile]).trim();
  return s.edge.fetch('/v1/check', { method: 'POST', body, headers: { authorization: auth } });
}

test('a certificate from a foreign key is refused', async () => {
  const rogue = join(s.dir, 'rogue-edge.key');
  updraft(['keys', 'generate', '--out', rogue, '--force']);
  const res = await forgedCertCheck(loadKey(rogue));
  const body = await expectProblem(assert, res, 401, 'bad-certificate');
  assert.match(body.detail, /edge/);
});

test('an expired certificate is refused even though the edge signed it', async () => {
  const res = await forgedCertCheck(loadKey(join(s.dir, 'edge.key')), { expires: Math.floor(Date.now() / 1000) - 10 });
  const body = await expectProblem(assert, res, 401, 'bad-certificate');
  assert.match(body.detail, /expired/);
});

test('a revoked device is refused at the edge and cannot re-enroll with its key', async () => {
  const t = await enrollToken();
  const d = enroll(t.token);
  assert.equal((await signedCheck(d, checkBody())).status, 200);
  await expectProblem(assert, await s.api('POST', `/api/devices/${d.id}/revoke`, { token: s.tokens.operator }), 403, 'forbidden-role');
  const revoked = await s.api('POST', `/api/devices/${d.id}/revoke`, { token: s.tokens.security });
  assert.equal(revoked.status, 200);
  await expectProblem(assert, await signedCheck(d, checkBody()), 403, 'device-revoked');
  await expectProblem(assert, await s.api('POST', `/api/devices/${d.id}/revoke`, { token: s.tokens.security }), 404, 'not-found');
  const key = loadKey(d.key);
  const again = await s.edge.fetch('/v1/enroll', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: t.token, public_key: key.public, hardware_id: 'thermo-v2', serial: 'SN-again' }),
  });
  await expectProblem(assert, again, 403, 'device-revoked');
  const list = await (await s.api('GET', '/api/enroll-tokens', { token: s.tokens.viewer })).json();
  assert.equal(list.find((x) => x.id === t.id).uses, 1, 'the refused re-enrollment must not spend a token use');
});

test('one flooding device is rate limited while another is served normally', async () => {
  const t = await enrollToken();
  const flooder = enroll(t.token);
  const calm = enroll(t.token);
  // The limiter counts in fixed 60 s windows aligned to the clock (as the
  // binding does): start the flood well inside one so a window boundary
  // cannot reset the count halfway through.
  const into = (Date.now() / 1000) % 60;
  if (into > 40) await new Promise((r) => setTimeout(r, (61 - into) * 1000));
  const statuses = [];
  for (let i = 0; i < 30; i++) statuses.push((await signedCheck(flooder, checkBody())).status);
  const limited = statuses.filter((x) => x === 429).length;
  assert.ok(limited > 0, `no 429 in ${statuses}`);
  assert.ok(statuses.slice(0, 10).every((x) => x === 200), `early checks should pass: ${statuses}`);
  const last = await signedCheck(flooder, checkBody());
  await expectProblem(assert, last, 429, 'rate-limited');
  assert.ok(Number(last.headers.get('retry-after')) > 0);
  assert.equal((await signedCheck(calm, checkBody())).status, 200);
});
