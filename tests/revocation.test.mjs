// Emergency revocation at the edge (DESIGN §2, §5; issue 6): the admin API
// (security role, seq + 1, validation), the signed list devices fetch, every
// directive carrying the new seq, 410 for revoked artifacts, campaigns of the
// revoked release halted with rollback, fix-forward offered first, and the
// CDN purge: cache.delete here plus Cloudflare's purge API, which tests
// replace with a local stand-in through Miniflare's outbound interception,
// asserting the exact requests sent, the retries and the recorded outcome.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync, readFileSync } from 'node:fs';
import { createPublicKey, verify as edVerify } from 'node:crypto';
import { expectProblem } from './helpers/edge.mjs';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { updraft } from './helpers/cli.mjs';

const ZONE = 'zone0123456789abcdef';
const CF_TOKEN = 'cf-purge-token-for-tests';
const PURGE_URL = `https://api.cloudflare.com/client/v4/zones/${ZONE}/purge_cache`;

/** A stand-in of Cloudflare's purge API: records every request, answers from a plan. */
function purgeStandIn() {
  const api = {
    requests: [],
    // (body) => { status, headers, body } for the next answers; default success.
    answer: () => ({ status: 200, body: { success: true, errors: [], messages: [], result: { id: ZONE } } }),
    handler: async (request) => {
      const body = await request.text();
      const entry = { method: request.method, url: request.url, authorization: request.headers.get('authorization'),
        contentType: request.headers.get('content-type'), body: JSON.parse(body) };
      api.requests.push(entry);
      const a = api.answer(entry.body);
      return new Response(JSON.stringify(a.body ?? {}), { status: a.status, headers: { 'content-type': 'application/json', ...(a.headers ?? {}) } });
    },
  };
  return api;
}

let s;
let cf;
let serial = 0;
const FACTORY = { version: '0.9.0', sha256: 'cd'.repeat(32), security_version: 1 };
let enrollToken;

async function publish(release, approve = true) {
  assert.equal((await s.api('PUT', `/api/artifacts/${release.sha256}`, { token: s.tokens.uploader, body: release.bytes })).status, 201);
  const rel = await (await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: release.envelope })).json();
  if (approve) assert.equal((await s.api('POST', `/api/releases/${rel.id}/approve`, { token: s.tokens.approver })).status, 200);
  return rel.id;
}

function enroll() {
  serial += 1;
  const dir = join(s.dir, `rdev-${serial}`);
  const key = join(s.dir, `rdev-${serial}.key`);
  const out = updraft(['--json', 'device', 'enroll', '--server', s.edge.url, '--enroll-token', enrollToken, '--key', key,
    '--hardware-id', 'thermo-v2', '--serial', `SN-R${serial}`, '--out', dir]);
  return { dir, key, id: JSON.parse(out).device_id };
}

function sign(d, path, body) {
  const file = join(d.dir, 'body.json');
  writeFileSync(file, body);
  return updraft(['device', 'sign-request', '--key', d.key, '--cert', join(d.dir, 'cert.json'), '--method', 'POST', '--path', path, '--body', file]).trim();
}

async function check(d, current = FACTORY) {
  const body = JSON.stringify({ current, battery: 90, network: 'wifi', tz: 'America/Chicago',
    nonce: `n-${Date.now()}-${Math.random().toString(16).slice(2)}`, root_version: 1, revocation_seq: 0 });
  const res = await s.edge.fetch('/v1/check', { method: 'POST', body, headers: { authorization: sign(d, '/v1/check', body), 'content-type': 'application/json' } });
  assert.equal(res.status, 200, await res.clone().text());
  return JSON.parse(Buffer.from((await res.json()).payload, 'base64').toString('utf8'));
}

/** Verifies a DSSE envelope with the root's edge key; returns its payload. */
function verifyEdgeSigned(envelope, payloadType) {
  const root = JSON.parse(Buffer.from(JSON.parse(readFileSync(s.rootPath, 'utf8')).payload, 'base64').toString('utf8'));
  assert.equal(envelope.payloadType, payloadType);
  const payload = Buffer.from(envelope.payload, 'base64');
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `), payload]);
  const edgeIds = root.roles.edge.keyids;
  const good = envelope.signatures.filter((sig) => {
    if (!edgeIds.includes(sig.keyid)) return false;
    const raw = Buffer.from(root.keys[sig.keyid].public, 'base64');
    const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
    return edVerify(null, pae, key, Buffer.from(sig.sig, 'base64'));
  });
  assert.ok(good.length >= 1, 'signed by the edge key of the root');
  return JSON.parse(payload.toString('utf8'));
}

async function revocationList() {
  const res = await s.edge.fetch('/v1/revocations.json');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-tag'), 'revocations');
  assert.match(res.headers.get('cache-control'), /s-maxage=\d+/);
  return verifyEdgeSigned(await res.json(), 'application/vnd.updraft.revocations+json');
}

async function revoke(body, token = s.tokens.security) {
  return s.api('POST', '/api/revocations', { token, body });
}

let bad; // 1.2.0, revoked in the main test
let fix; // 1.2.1, the replacement
let campaign;
let onBad; // a device that took 1.2.0 through the campaign
let staged;
let offerUrl;

before(async () => {
  cf = purgeStandIn();
  s = await readyEdge({ unlimited: true, bindings: { CLOUDFLARE_ZONE_ID: ZONE, CLOUDFLARE_API_TOKEN: CF_TOKEN }, outbound: cf.handler });
  const t = await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'rev', product: 'acme-thermostat', max_uses: 100 } });
  enrollToken = (await t.json()).token;
  bad = makeRelease(s.dir, { version: '1.2.0', securityVersion: 2, size: 4096 });
  bad.id = await publish(bad);
  fix = makeRelease(s.dir, { version: '1.2.1', securityVersion: 2, size: 4096 });
  fix.id = await publish(fix);
});
after(() => s?.stop());

test('before any revocation the list is seq 0, empty, signed by the edge key, and directives carry seq 0', async () => {
  const list = await revocationList();
  assert.equal(list.seq, 0);
  assert.deepEqual(list.revoked, []);
  assert.ok(list.expires > Math.floor(Date.now() / 1000) + 24 * 3600, 'a fresh list is valid for days');
  const d = enroll();
  assert.equal((await check(d)).revocation_seq, 0);
  const body = await (await s.api('GET', '/api/revocations', { token: s.tokens.viewer })).json();
  assert.deepEqual(body, { seq: 0, revocations: [] });
});

test('bad input gets a typed error and changes nothing; only the security role may revoke', async () => {
  await expectProblem(assert, await revoke({ reason: 'x' }), 400, 'invalid-revocation');
  await expectProblem(assert, await revoke({ reason: '', release_ids: [bad.id] }), 400, 'invalid-revocation');
  await expectProblem(assert, await revoke({ reason: 'x', release_ids: [bad.id], surprise: 1 }), 400);
  await expectProblem(assert, await revoke('{"reason": "x", "release_ids": ['), 400);
  await expectProblem(assert, await revoke({ reason: 'x', release_ids: ['rel-00000000deadbeef'] }), 422, 'unknown-release');
  await expectProblem(assert, await revoke({ reason: 'x', min_security_version: { 'acme-thermostat': 0 } }), 422, 'floor-not-raised');
  await expectProblem(assert, await revoke({ reason: 'x', release_ids: [bad.id], replacement_release_id: 'rel-00000000deadbeef' }), 422, 'unknown-release');
  for (const role of ['operator', 'approver', 'uploader', 'viewer']) {
    await expectProblem(assert, await revoke({ reason: 'x', release_ids: [bad.id] }, s.tokens[role]), 403);
  }
  assert.equal((await revocationList()).seq, 0, 'nothing was revoked');
  assert.equal(cf.requests.length, 0, 'nothing was purged');
});

test('a running campaign of the release, a device that took it, and a download link handed out', async () => {
  staged = enroll();
  onBad = enroll();
  const spec = {
    name: 'thermostat 1.2.0', release_id: bad.id,
    selector: { device_ids: [staged.id, onBad.id] },
    waves: [{ name: 'staging', percent: 0, min_soak_minutes: 0, gate: { min_finished: 5, max_failure_rate: 0.5 } },
      { name: 'all', percent: 100, min_soak_minutes: 0, gate: { min_finished: 5, max_failure_rate: 0.5 } }],
    budgets: { max_starts_per_minute: 100, max_in_flight: 100 }, deadline_s: 3600,
  };
  const created = await (await s.api('POST', '/api/campaigns', { token: s.tokens.operator, body: spec })).json();
  campaign = created.id;
  assert.equal((await s.api('POST', `/api/campaigns/${campaign}/approve`, { token: s.tokens.approver })).status, 200);
  assert.equal((await s.api('POST', `/api/campaigns/${campaign}/start`, { token: s.tokens.operator })).status, 200);
  const offer = await check(onBad);
  assert.equal(offer.action.type, 'update');
  assert.equal(offer.action.campaign_id, campaign);
  offerUrl = offer.action.download_url;
  assert.equal((await s.edge.fetch(offerUrl)).status, 200, 'the artifact downloads (and is now in the cache)');
  const staging = await check(staged);
  assert.equal(staging.action.type, 'update');
});

let revocation;
test('revoking the release: seq 1, a signed list, 410 for its artifact, campaign halted with rollback, every directive carries seq 1', async (t) => {
  const t0 = Date.now();
  const res = await revoke({ reason: 'CVE-2026-0001: bootloop on rev B boards', release_ids: [bad.id], replacement_release_id: fix.id });
  assert.equal(res.status, 201, await res.clone().text());
  const body = await res.json();
  assert.equal(body.seq, 1);
  revocation = body.revocation;
  assert.deepEqual(body.errors, []);
  assert.deepEqual(body.halted_campaigns, [campaign]);
  assert.match(body.fix_forward_campaign_id, /^cmp-/);
  const signed = verifyEdgeSigned(body.list, 'application/vnd.updraft.revocations+json');
  assert.equal(signed.seq, 1);
  assert.deepEqual(signed.revoked.map((r) => r.sha256), [bad.sha256]);
  assert.equal(signed.revoked[0].reason, 'CVE-2026-0001: bootloop on rev B boards');

  // Devices: the list they fetch, the seq in every directive.
  const list = await revocationList();
  assert.equal(list.seq, 1);
  assert.deepEqual(list.revoked.map((r) => r.sha256), [bad.sha256]);
  const other = enroll();
  assert.equal((await check(other)).revocation_seq, 1);
  const seenAfter = Date.now() - t0;

  // The artifact is gone, even through a link handed out before.
  await expectProblem(assert, await s.edge.fetch(offerUrl), 410, 'artifact-revoked');

  // The campaign is halted with rollback; the device on the revoked image is
  // ordered back to where it came from.
  const c = (await (await s.api('GET', `/api/campaigns/${campaign}`, { token: s.tokens.viewer })).json()).campaign;
  assert.deepEqual({ state: c.state.state, rollback: c.state.rollback }, { state: 'halted', rollback: true });
  const back = await check(onBad, { version: '1.2.0', sha256: bad.sha256, security_version: 2 });
  assert.equal(back.action.type, 'rollback');
  assert.equal(back.action.to_sha256, FACTORY.sha256);
  // The staged device that had not installed it yet is offered nothing revoked.
  const staging = await check(staged);
  assert.notEqual(staging.action.release && JSON.parse(Buffer.from(staging.action.release.payload, 'base64')).artifact.sha256, bad.sha256);

  // The audit log holds the revocation and the campaign's halt, by the security officer.
  const audit = await (await s.api('GET', '/api/audit?limit=500', { token: s.tokens.viewer })).json();
  const entries = audit.entries ?? audit;
  const rev = entries.find((e) => e.action === 'revocation.create');
  assert.equal(rev.subject, 'revocation-1');
  assert.equal(rev.role, 'security');
  assert.ok(entries.some((e) => e.action === 'campaign.rollback' && e.subject === campaign && e.details.revocation_seq === 1));
  t.diagnostic(`revocation seen by the list and a fresh check ${seenAfter} ms after the admin request`);
});

test('the purge: cache.delete here and the exact Cloudflare purge API requests, by URL and by tag, recorded as succeeded', async () => {
  const origin = s.edge.url;
  assert.deepEqual(cf.requests, [
    { method: 'POST', url: PURGE_URL, authorization: `Bearer ${CF_TOKEN}`, contentType: 'application/json',
      body: { files: [`${origin}/v1/revocations.json`, `${origin}/v1/artifacts/${bad.sha256}`] } },
    { method: 'POST', url: PURGE_URL, authorization: `Bearer ${CF_TOKEN}`, contentType: 'application/json',
      body: { tags: ['revocations', `artifact-${bad.sha256}`] } },
  ]);
  const got = await (await s.api('GET', '/api/revocations/1', { token: s.tokens.viewer })).json();
  assert.equal(got.purge.status, 'succeeded');
  assert.equal(got.purge.attempts, 1);
  assert.deepEqual(got.purge.log.map((l) => [l.kind, l.http_status]), [['files', 200], ['tags', 200]]);
  assert.equal(got.created_by, 'security person');
  assert.equal(got.fix_forward_campaign_id, revocation.fix_forward_campaign_id);
});

test('fix-forward: a device stuck on the revoked image is offered the replacement first, by the fix-forward campaign; others are not', async () => {
  const stuck = enroll();
  const offer = await check(stuck, { version: '1.2.0', sha256: bad.sha256, security_version: 2 });
  assert.equal(offer.action.type, 'update');
  assert.equal(offer.action.campaign_id, revocation.fix_forward_campaign_id);
  const offered = JSON.parse(Buffer.from(offer.action.release.payload, 'base64'));
  assert.equal(offered.artifact.sha256, fix.sha256);
  // A device on a safe image is not the fix-forward campaign's business.
  const safe = await check(enroll());
  assert.notEqual(safe.action.campaign_id, revocation.fix_forward_campaign_id);
  const c = (await (await s.api('GET', `/api/campaigns/${revocation.fix_forward_campaign_id}`, { token: s.tokens.viewer })).json()).campaign;
  assert.equal(c.state.state, 'running');
  assert.equal(c.name, 'fix-forward for revocation 1');
});

test('no new campaign of a revoked release; one that escaped the stop is stopped by the next tick', async () => {
  const spec = { name: 'again', release_id: bad.id, waves: [{ name: 'all', percent: 100, min_soak_minutes: 0, gate: { min_finished: 1, max_failure_rate: 0.5 } }],
    budgets: { max_starts_per_minute: 10, max_in_flight: 10 }, deadline_s: 3600 };
  await expectProblem(assert, await s.api('POST', '/api/campaigns', { token: s.tokens.operator, body: spec }), 422, 'release-revoked');
  // As if the revocation's stop had failed: a running campaign of the revoked release, written behind the edge's back.
  const row = await s.edge.db.prepare('SELECT * FROM campaigns WHERE id = ?1').bind(campaign).first();
  const escaped = 'cmp-0e5ca9ed0e5ca9ed';
  await s.edge.db.prepare(`INSERT INTO campaigns (id, name, release_id, product, spec, salt, state, state_name, wave, pace, created_by, created_at, updated_at)
    VALUES (?1, 'escaped', ?2, ?3, ?4, ?5, ?6, 'running', 0, 10, 'test', ?7, ?7)`)
    .bind(escaped, bad.id, row.product, row.spec, row.salt, JSON.stringify({ state: 'running', wave: 0, since: Math.floor(Date.now() / 1000) }), Math.floor(Date.now() / 1000)).run();
  await new Promise((r) => setTimeout(r, 5200)); // the catalog TTL: the tick judges with the catalog
  const tick = await (await s.api('POST', '/api/campaigns/tick')).json();
  assert.deepEqual(tick.revoked_campaigns, [{ stopped: [escaped], errors: [] }]);
  const c = (await (await s.api('GET', `/api/campaigns/${escaped}`, { token: s.tokens.viewer })).json()).campaign;
  assert.deepEqual({ state: c.state.state, rollback: c.state.rollback }, { state: 'halted', rollback: true });
  const audit = await (await s.api('GET', '/api/audit?limit=500', { token: s.tokens.viewer })).json();
  assert.ok((audit.entries ?? audit).some((e) => e.action === 'campaign.rollback' && e.subject === escaped && e.actor === 'cron'));
});

test('a replacement that is itself revoked is refused', async () => {
  await expectProblem(assert, await revoke({ reason: 'again', sha256: ['ab'.repeat(32)], replacement_release_id: bad.id }), 409, 'replacement-revoked');
});

test('a rate-limited purge is retried after Retry-After, only for what is left; a refused one fails visibly and is retried by hand', async () => {
  cf.requests.length = 0;
  let tagsCalls = 0;
  cf.answer = (body) => {
    if (body.tags && ++tagsCalls === 1) return { status: 429, headers: { 'retry-after': '1' }, body: { success: false, errors: [{ code: 971, message: 'Please wait and consider throttling your request speed' }] } };
    return { status: 200, body: { success: true, errors: [] } };
  };
  const sha = 'ef'.repeat(32);
  const body = await (await revoke({ reason: 'leaked test image', sha256: [sha] })).json();
  assert.equal(body.seq, 2);
  assert.equal(body.revocation.purge.status, 'pending');
  assert.match(body.revocation.purge.last_error, /429/);
  assert.ok(body.revocation.purge.next_attempt_at >= body.revocation.created_at + 1);
  assert.deepEqual(body.revocation.purge.tags_left, ['revocations', `artifact-${sha}`]);
  assert.deepEqual(body.revocation.purge.urls_left, []);

  await new Promise((r) => setTimeout(r, 2100));
  const tick = await (await s.api('POST', '/api/campaigns/tick')).json();
  assert.deepEqual(tick.purges.map((p) => [p.seq, p.status]), [[2, 'succeeded']]);
  assert.deepEqual(cf.requests.map((r) => Object.keys(r.body)[0]), ['files', 'tags', 'tags'], 'only the tags were sent again');
  const got = await (await s.api('GET', '/api/revocations/2', { token: s.tokens.viewer })).json();
  assert.equal(got.purge.status, 'succeeded');
  assert.equal(got.purge.attempts, 2);

  // A bad token: the API refuses; the purge fails at once, visibly.
  cf.answer = () => ({ status: 403, body: { success: false, errors: [{ code: 10000, message: 'Authentication error' }] } });
  const third = await (await revoke({ reason: 'another', sha256: ['12'.repeat(32)] })).json();
  assert.equal(third.revocation.purge.status, 'failed');
  assert.match(third.revocation.purge.last_error, /403.*Authentication error/);
  const listed = await (await s.api('GET', '/api/revocations', { token: s.tokens.viewer })).json();
  assert.equal(listed.seq, 3);
  assert.deepEqual(listed.revocations.map((r) => [r.seq, r.purge.status]), [[3, 'failed'], [2, 'succeeded'], [1, 'succeeded']]);
  // Fixed; retried by hand (security role only).
  cf.answer = () => ({ status: 200, body: { success: true, errors: [] } });
  await expectProblem(assert, await s.api('POST', '/api/revocations/3/purge', { token: s.tokens.operator }), 403);
  const retried = await (await s.api('POST', '/api/revocations/3/purge', { token: s.tokens.security })).json();
  assert.equal(retried.purge.status, 'succeeded');
  await expectProblem(assert, await s.api('GET', '/api/revocations/99', { token: s.tokens.viewer }), 404);
});

test('raising a product security floor: every image below it answers 410 and the list carries the floor', async () => {
  const old = makeRelease(s.dir, { version: '1.1.0', securityVersion: 1, size: 4096 });
  old.id = await publish(old);
  const res = await revoke({ reason: 'floor to 2 after CVE-2026-0002', min_security_version: { 'acme-thermostat': 2 } });
  assert.equal(res.status, 201, await res.clone().text());
  const list = await revocationList();
  assert.equal(list.seq, 4);
  assert.deepEqual(list.min_security_version, { 'acme-thermostat': 2 });
  await expectProblem(assert, await s.edge.fetch(`/v1/artifacts/${old.sha256}?exp=1&tok=x`), 410, 'artifact-revoked');
  // Lowering is not a revocation.
  await expectProblem(assert, await revoke({ reason: 'x', min_security_version: { 'acme-thermostat': 1 } }), 422, 'floor-not-raised');
});

test('a revocation written behind this isolate\'s back (another colo) reaches every check within the 5 s catalog TTL', async (t) => {
  const d = enroll();
  const before = (await check(d)).revocation_seq;
  const purge = JSON.stringify({ status: 'not-configured', attempts: 0, last_error: null, next_attempt_at: null, done_at: null, urls: [], tags: [], urls_left: [], tags_left: [], log: [] });
  await s.edge.db.prepare(`INSERT INTO revocations (seq, reason, created_at, created_by, sha256, release_ids, min_security_version, purge, purge_status)
    VALUES (?1, 'behind the back', ?2, 'test', ?3, '[]', '{}', ?4, 'not-configured')`)
    .bind(before + 1, Math.floor(Date.now() / 1000), JSON.stringify(['34'.repeat(32)]), purge).run();
  const writtenAt = Date.now();
  let seenAfter = null;
  while (Date.now() - writtenAt < 9000) {
    if ((await check(d)).revocation_seq === before + 1) {
      seenAfter = Date.now() - writtenAt;
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(seenAfter !== null, 'never seen');
  t.diagnostic(`seen by checks after ${seenAfter} ms`);
  assert.ok(seenAfter <= 5000 + 1500, `seen after ${seenAfter} ms; the catalog TTL is 5 s`);
  assert.equal((await revocationList()).seq, before + 1, 'the list served agrees (a cached older list is never served)');
});
