// Device reports over HTTP (DESIGN §3, POST /v1/reports), with the real CLI
// acting as the device's signer: ingestion is idempotent per (device, seq),
// the device id comes from the certificate, and people read a device's
// reports page by page through GET /api/devices/{id}/reports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { expectProblem } from './helpers/edge.mjs';
import { readyEdge, ROLES } from './helpers/setup.mjs';
import { updraft } from './helpers/cli.mjs';

let s;
let serial = 0;
let enrollToken;

before(async () => {
  s = await readyEdge();
  const res = await s.api('POST', '/api/enroll-tokens', {
    token: s.tokens.operator,
    body: { name: 'reports line', product: 'acme-thermostat', max_uses: 100 },
  });
  assert.equal(res.status, 201, await res.clone().text());
  enrollToken = (await res.json()).token;
});
after(() => s?.stop());

/** Enrolls a fresh device with the CLI; returns { dir, key, id }. */
function enroll() {
  serial += 1;
  const dir = join(s.dir, `reporter-${serial}`);
  const key = join(s.dir, `reporter-${serial}.key`);
  const out = updraft(['--json', 'device', 'enroll', '--server', s.edge.url, '--enroll-token', enrollToken, '--key', key,
    '--hardware-id', 'thermo-v2', '--serial', `SN-R${serial}`, '--out', dir]);
  return { dir, key, id: JSON.parse(out).device_id };
}

const SHA = 'ab'.repeat(32);

/** One report in the core `Report` wire shape. */
function report(seq, event = { state: 'downloading' }, extra = {}) {
  return { seq, at: 1_800_000_000 + seq, event, sha256: SHA, running: '1.0.0', running_security_version: 1, ...extra };
}

function batch(...reports) {
  return JSON.stringify({ reports });
}

/**
 * Signs `body` as device `d` with the CLI (for `signPath`) and POSTs
 * `sendBody` to /v1/reports.
 */
function post(d, body, { signPath = '/v1/reports', sendBody = body, headers = {} } = {}) {
  const bodyFile = join(d.dir, 'report-body.json');
  writeFileSync(bodyFile, body);
  const auth = updraft(['device', 'sign-request', '--key', d.key, '--cert', join(d.dir, 'cert.json'), '--method', 'POST',
    '--path', signPath, '--body', bodyFile]).trim();
  return s.edge.fetch('/v1/reports', {
    method: 'POST',
    body: sendBody,
    headers: { authorization: auth, 'content-type': 'application/json', ...headers },
  });
}

async function postOk(d, body) {
  const res = await post(d, body);
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get('cache-control'), 'no-store');
  return res.json();
}

async function storedRows(deviceId) {
  const { results } = await s.edge.db.prepare('SELECT * FROM reports WHERE device_id = ?1 ORDER BY seq').bind(deviceId).all();
  return results;
}

async function summary(deviceId) {
  return s.edge.db
    .prepare('SELECT last_report_seq, last_report_at, last_report_received_at, last_state, running_version, running_security_version FROM devices WHERE id = ?1')
    .bind(deviceId)
    .first();
}

function readReports(id, query = '', token = s.tokens.viewer) {
  return s.api('GET', `/api/devices/${id}/reports${query}`, { token });
}

test('a signed batch is stored under the certificate\'s device id and acknowledged', async () => {
  const d = enroll();
  const ack = await postOk(d, batch(
    report(1, { state: 'downloading' }, { campaign_id: 'spring-rollout' }),
    report(2, { state: 'downloaded' }, { campaign_id: 'spring-rollout' }),
    report(3, { state: 'failed', code: 'image-hash' }, { campaign_id: 'spring-rollout', detail: 'slot B hash mismatch' }),
  ));
  assert.deepEqual(ack, { accepted: 3, duplicates: 0 });

  const rows = await storedRows(d.id);
  assert.deepEqual(rows.map((r) => r.seq), [1, 2, 3]);
  assert.equal(rows[2].state, 'failed');
  assert.equal(rows[2].code, 'image-hash');
  assert.equal(rows[2].detail, 'slot B hash mismatch');
  assert.equal(rows[2].campaign_id, 'spring-rollout');
  assert.equal(rows[2].sha256, SHA);
  assert.equal(rows[0].uptime_s, null);
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs(rows[0].received_at - now) < 60, `received_at ${rows[0].received_at} is the edge's clock`);

  const sum = await summary(d.id);
  assert.equal(sum.last_report_seq, 3);
  assert.equal(sum.last_state, 'failed');
  assert.equal(sum.last_report_at, 1_800_000_003);
  assert.equal(sum.running_version, '1.0.0');
  assert.equal(sum.running_security_version, 1);
});

test('a resent batch counts as duplicates and changes nothing', async () => {
  const d = enroll();
  const body = batch(report(1), report(2, { state: 'installing' }), report(3, { state: 'health', uptime_s: 3600, reboots: 1, crashes: 0 }));
  assert.deepEqual(await postOk(d, body), { accepted: 3, duplicates: 0 });
  const rowsBefore = await storedRows(d.id);
  const summaryBefore = await summary(d.id);

  // The edge clock moves on, so a rewrite would show in received_at.
  await new Promise((r) => setTimeout(r, 1100));
  assert.deepEqual(await postOk(d, body), { accepted: 0, duplicates: 3 });
  assert.deepEqual(await postOk(d, body), { accepted: 0, duplicates: 3 });
  assert.deepEqual(await storedRows(d.id), rowsBefore);
  assert.deepEqual(await summary(d.id), summaryBefore);
});

test('a partially overlapping batch stores only the new reports; the first copy of a seq wins', async () => {
  const d = enroll();
  assert.deepEqual(await postOk(d, batch(report(1), report(2), report(3))), { accepted: 3, duplicates: 0 });
  const second = await storedRows(d.id);

  const overlap = batch(
    report(2, { state: 'succeeded' }, { detail: 'a different story for the same seq' }),
    report(3),
    report(4, { state: 'rebooting' }),
    report(5, { state: 'succeeded' }, { running: '1.1.0', running_security_version: 2 }),
  );
  assert.deepEqual(await postOk(d, overlap), { accepted: 2, duplicates: 2 });
  const rows = await storedRows(d.id);
  assert.deepEqual(rows.map((r) => r.seq), [1, 2, 3, 4, 5]);
  assert.deepEqual(rows.slice(0, 3), second, 'stored reports are never rewritten');
  assert.equal(rows[1].state, 'downloading');
  assert.equal(rows[1].detail, null);

  const sum = await summary(d.id);
  assert.equal(sum.last_report_seq, 5);
  assert.equal(sum.last_state, 'succeeded');
  assert.equal(sum.running_version, '1.1.0');
  assert.equal(sum.running_security_version, 2);
});

test('a report that arrives late is stored but does not roll the device summary back', async () => {
  const d = enroll();
  assert.deepEqual(await postOk(d, batch(report(8, { state: 'succeeded' }, { running: '2.0.0' }))), { accepted: 1, duplicates: 0 });
  assert.deepEqual(await postOk(d, batch(report(6, { state: 'installing' }))), { accepted: 1, duplicates: 0 });
  const sum = await summary(d.id);
  assert.equal(sum.last_report_seq, 8);
  assert.equal(sum.last_state, 'succeeded');
  assert.equal(sum.running_version, '2.0.0');
  assert.deepEqual((await storedRows(d.id)).map((r) => r.seq), [6, 8]);
});

test('malformed bodies are 400 problems that name the field, and store nothing', async () => {
  const d = enroll();
  const cases = [
    ['{"reports": [', 'malformed-document', /EOF|end of/i],
    [batch(report(1, { state: 'exploded' })), 'malformed-document', /reports\[0\]\.event/],
    [batch(report(2), report(1)), 'invalid-field', /`reports`.*strictly increasing/],
    [batch(report(0)), 'invalid-field', /`reports`/],
    [batch(), 'invalid-field', /`reports`/],
    [batch(report(1, { state: 'failed', code: 'Not A Slug' })), 'invalid-field', /`event\.code`/],
    [batch(report(1, { state: 'failed' })), 'malformed-document', /reports\[0\]\.event/],
    [batch(report(1, undefined, { running: 'one' })), 'malformed-document', /reports\[0\]\.running/],
    [batch(report(1, undefined, { detail: 'x'.repeat(257) })), 'invalid-field', /`detail`/],
    [batch(report(2 ** 53 + 2)), 'invalid-field', /`seq`/],
    // The device id is the certificate's; a body cannot claim another one.
    [batch(report(1, undefined, { device_id: 'dev-00000000000000000000' })), 'malformed-document', /reports\[0\].*device_id/],
    [JSON.stringify({ reports: [report(1)], device_id: 'dev-00000000000000000000' }), 'malformed-document', /device_id/],
  ];
  for (const [body, slug, detail] of cases) {
    const problem = await expectProblem(assert, await post(d, body), 400, slug);
    assert.match(problem.detail, detail, `${body.slice(0, 80)} → ${problem.detail}`);
  }
  assert.deepEqual(await storedRows(d.id), []);
});

test('a body over 16 KiB is refused with 413', async () => {
  const d = enroll();
  const reports = [];
  for (let seq = 1; seq <= 32; seq++) reports.push(report(seq, undefined, { detail: 'é'.repeat(256) }));
  const body = batch(...reports);
  assert.ok(Buffer.byteLength(body) > 16 * 1024);
  await expectProblem(assert, await post(d, body), 413, 'body-too-large');
  assert.deepEqual(await storedRows(d.id), []);
});

test('unsigned, tampered, replayed-for-another-path and revoked requests are refused', async () => {
  const d = enroll();
  const body = batch(report(1));
  const unsigned = await s.edge.fetch('/v1/reports', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  await expectProblem(assert, unsigned, 401, 'missing-authorization');
  assert.equal(unsigned.headers.get('www-authenticate'), 'Updraft-Ed25519');

  const tampered = await post(d, body, { sendBody: batch(report(1, { state: 'succeeded' })) });
  await expectProblem(assert, tampered, 401, 'bad-request-signature');

  // A signature made for /v1/check does not authorize the same bytes on /v1/reports.
  await expectProblem(assert, await post(d, body, { signPath: '/v1/check' }), 401, 'bad-request-signature');

  const garbled = await s.edge.fetch('/v1/reports', { method: 'POST', body, headers: { authorization: 'Updraft-Ed25519 cert=%%%, ts=1, sig=x' } });
  await expectProblem(assert, garbled, 401, 'bad-authorization-header');
  assert.deepEqual(await storedRows(d.id), []);

  const revoked = enroll();
  assert.deepEqual(await postOk(revoked, body), { accepted: 1, duplicates: 0 });
  assert.equal((await s.api('POST', `/api/devices/${revoked.id}/revoke`, { token: s.tokens.security })).status, 200);
  await expectProblem(assert, await post(revoked, batch(report(2))), 403, 'device-revoked');
  // What it reported before revocation stays readable.
  assert.deepEqual((await (await readReports(revoked.id)).json()).reports.map((r) => r.seq), [1]);
});

test('GET /v1/reports is 405, not a way around the signature', async () => {
  const res = await s.edge.fetch('/v1/reports');
  await expectProblem(assert, res, 405, 'method-not-allowed');
  assert.equal(res.headers.get('allow'), 'POST');
});

test('people read a device\'s reports in seq order, page by page, in the report wire shape', async () => {
  const d = enroll();
  const sent = [
    report(1, { state: 'downloading' }, { campaign_id: 'spring-rollout' }),
    report(2, { state: 'downloaded' }),
    report(4, { state: 'rolled_back', code: 'boot-watchdog' }, { detail: 'no heartbeat in 90 s' }),
    report(7, { state: 'health', uptime_s: 86_400, reboots: 2, crashes: 1 }),
    report(9, { state: 'succeeded' }, { running: '1.1.0-rc.1+build.5', running_security_version: 3 }),
  ];
  const noSha = { ...report(10, { state: 'rebooting' }) };
  delete noSha.sha256;
  sent.push(noSha);
  // Sent newest half first: the listing orders by seq, not by arrival.
  assert.deepEqual(await postOk(d, batch(...sent.slice(3))), { accepted: 3, duplicates: 0 });
  assert.deepEqual(await postOk(d, batch(...sent.slice(0, 3))), { accepted: 3, duplicates: 0 });

  const all = await readReports(d.id);
  assert.equal(all.status, 200);
  assert.equal(all.headers.get('cache-control'), 'no-store');
  const page = await all.json();
  assert.deepEqual(Object.keys(page).sort(), ['device_id', 'next_after_seq', 'reports']);
  assert.equal(page.device_id, d.id);
  assert.equal(page.next_after_seq, null);
  const now = Math.floor(Date.now() / 1000);
  for (const [i, r] of page.reports.entries()) {
    assert.ok(Math.abs(r.received_at - now) < 60);
    const { received_at: _, ...wire } = r;
    assert.deepEqual(wire, sent[i], `report seq ${sent[i].seq} comes back as it was sent`);
  }

  const seqs = async (query) => {
    const p = await (await readReports(d.id, query)).json();
    return [p.reports.map((r) => r.seq), p.next_after_seq];
  };
  assert.deepEqual(await seqs('?limit=2'), [[1, 2], 2]);
  assert.deepEqual(await seqs('?after_seq=2&limit=2'), [[4, 7], 7]);
  assert.deepEqual(await seqs('?limit=2&after_seq=7'), [[9, 10], null]);
  assert.deepEqual(await seqs('?after_seq=10'), [[], null]);
  assert.deepEqual(await seqs('?after_seq=3&limit=500'), [[4, 7, 9, 10], null]);
  assert.deepEqual(await seqs('?limit=6'), [[1, 2, 4, 7, 9, 10], null]);
  assert.deepEqual(await seqs('?limit=5'), [[1, 2, 4, 7, 9], 9]);
});

test('bad paging queries are 400 problems naming the parameter', async () => {
  const d = enroll();
  assert.deepEqual(await postOk(d, batch(report(1))), { accepted: 1, duplicates: 0 });
  for (const [query, name] of [
    ['?limit=0', 'limit'],
    ['?limit=501', 'limit'],
    ['?limit=ten', 'limit'],
    ['?limit=', 'limit'],
    ['?after_seq=-1', 'after_seq'],
    ['?after_seq=1.5', 'after_seq'],
    ['?after_seq=1&after_seq=2', 'query'],
    ['?offset=10', 'query'],
  ]) {
    const problem = await expectProblem(assert, await readReports(d.id, query), 400, 'invalid-query');
    assert.match(problem.detail, new RegExp(`\`${name}\``), `${query} → ${problem.detail}`);
  }
});

test('every admin role may read reports; no token may not', async () => {
  const d = enroll();
  assert.deepEqual(await postOk(d, batch(report(1))), { accepted: 1, duplicates: 0 });
  for (const role of ROLES) {
    const res = await readReports(d.id, '', s.tokens[role]);
    assert.equal(res.status, 200, `${role}: ${await res.clone().text()}`);
    assert.equal((await res.json()).reports.length, 1);
  }
  await expectProblem(assert, await readReports(d.id, '', null), 401, 'unauthorized');
  await expectProblem(assert, await readReports(d.id, '', 'updt_not-a-real-token'), 401, 'unauthorized');
});

test('reports of an unknown device are a 404 problem; an enrolled device without reports is an empty page', async () => {
  const problem = await expectProblem(assert, await readReports('dev-00000000000000000000'), 404, 'not-found');
  assert.match(problem.detail, /dev-00000000000000000000/);
  await expectProblem(assert, await readReports('..'), 404, 'not-found');
  const quiet = enroll();
  assert.deepEqual(await (await readReports(quiet.id)).json(), { device_id: quiet.id, reports: [], next_after_seq: null });
});

test('a flooding reporter is rate limited like a checking device', async () => {
  const d = enroll();
  // Fixed 60 s windows aligned to the clock, as in the check's flood test.
  const into = (Date.now() / 1000) % 60;
  if (into > 40) await new Promise((r) => setTimeout(r, (61 - into) * 1000));
  const statuses = [];
  for (let seq = 1; seq <= 30; seq++) statuses.push((await post(d, batch(report(seq)))).status);
  assert.ok(statuses.slice(0, 10).every((x) => x === 200), `early reports should pass: ${statuses}`);
  assert.ok(statuses.includes(429), `no 429 in ${statuses}`);
  const last = await post(d, batch(report(31)));
  await expectProblem(assert, last, 429, 'rate-limited');
  assert.ok(Number(last.headers.get('retry-after')) > 0);
});
