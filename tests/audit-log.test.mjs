// The hash-chained audit log end to end (DESIGN §4): every state-changing admin
// action appends one entry, GET /api/audit pages it, /api/audit/export streams
// it, and `updraft audit verify` (the real CLI, recomputing every hash with
// core::audit) passes on the untouched log and names the entry when the D1
// table or an exported file is edited, cut or reordered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { expectProblem } from './helpers/edge.mjs';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { UPDRAFT, updraft } from './helpers/cli.mjs';

let s;
const done = {};

// An independent implementation of the entry hash (core/src/audit.rs, format
// updraft.audit.v1), so the encoding is pinned from outside Rust too.
const canon = (v) => (Array.isArray(v)
  ? `[${v.map(canon).join(',')}]`
  : v !== null && typeof v === 'object'
    ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(',')}}`
    : JSON.stringify(v));
function entryHash(e) {
  const str = (text) => { const b = Buffer.from(text, 'utf8'); const n = Buffer.alloc(4); n.writeUInt32BE(b.length); return Buffer.concat([n, b]); };
  const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
  const fields = [e.actor, e.actor_name, e.role, e.action, e.subject, canon(e.details)].map(str);
  return createHash('sha256').update(Buffer.concat([Buffer.from('updraft.audit.v1\n'), u64(e.seq), u64(e.at), ...fields, Buffer.from(e.prev, 'hex')])).digest('hex');
}

/** Runs `updraft ARGS` with a viewer token: the least privileged role may audit. */
function cli(args, token = s.tokens.viewer) {
  const env = { ...process.env, UPDRAFT_TOKEN: token, UPDRAFT_SERVER: s.edge.url };
  const r = spawnSync(UPDRAFT, args, { encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
}

async function entries(token = s.tokens.viewer) {
  const res = await s.api('GET', '/api/audit?limit=500', { token });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).entries;
}

before(async () => {
  // readyEdge publishes root v1 and creates six API tokens: entries 1 to 7.
  s = await readyEdge();
  const r = makeRelease(s.dir, { version: '1.0.0' });
  const put = () => s.api('PUT', `/api/artifacts/${r.sha256}`, { token: s.tokens.uploader, body: r.bytes, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal((await put()).status, 201);
  assert.equal((await put()).status, 200, 'a repeated upload changes nothing');
  const created = await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: r.envelope });
  assert.equal(created.status, 201);
  done.release = (await created.json()).id;
  assert.equal((await s.api('POST', `/api/releases/${done.release}/approve`, { token: s.tokens.approver })).status, 200);

  const enrollRes = await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'line 3', product: 'acme-thermostat', max_uses: 5 } });
  assert.equal(enrollRes.status, 201);
  const enrollToken = await enrollRes.json();
  done.enrollSecret = enrollToken.token;
  const key = join(s.dir, 'device.key');
  const enrolled = JSON.parse(updraft(['--json', 'device', 'enroll', '--server', s.edge.url, '--enroll-token', enrollToken.token, '--key', key,
    '--hardware-id', 'thermo-v2', '--serial', 'SN-1', '--out', join(s.dir, 'device')]));
  done.device = enrolled.device_id;
  assert.equal((await s.api('POST', `/api/devices/${done.device}/revoke`, { token: s.tokens.security })).status, 200);
  assert.equal((await s.api('POST', `/api/devices/${done.device}/revoke`, { token: s.tokens.security })).status, 404, 'a second revoke changes nothing');
  assert.equal((await s.api('DELETE', `/api/enroll-tokens/${enrollToken.id}`, { token: s.tokens.operator })).status, 200);

  const temp = await (await s.api('POST', '/api/tokens', { body: { name: 'temp auditor', role: 'viewer' } })).json();
  done.tempSecret = temp.token;
  done.tempToken = temp.id;
  assert.equal((await s.api('DELETE', `/api/tokens/${temp.id}`)).status, 200);
});
after(() => s?.stop());

const EXPECTED_ACTIONS = [
  'root.publish',
  ...Array(6).fill('token.create'),
  'artifact.upload',
  'release.create',
  'release.approve',
  'enroll-token.create',
  'device.revoke',
  'enroll-token.revoke',
  'token.create',
  'token.revoke',
];

test('every state-changing admin action appends exactly one chained entry, and repeats append none', async () => {
  const log = await entries();
  assert.deepEqual(log.map((e) => e.action), EXPECTED_ACTIONS);
  assert.deepEqual(log.map((e) => e.seq), log.map((_, i) => i + 1));
  assert.equal(log[0].prev, '0'.repeat(64));
  for (let i = 1; i < log.length; i++) assert.equal(log[i].prev, log[i - 1].hash, `entry ${i + 1} links to entry ${i}`);
  assert.equal(new Set(log.map((e) => e.hash)).size, log.length);
  for (const e of log) assert.equal(entryHash(e), e.hash, `entry ${e.seq} hashes as documented`);

  const byAction = Object.fromEntries(log.map((e) => [e.action, e]));
  assert.deepEqual([log[0].actor, log[0].role, log[0].subject], ['bootstrap', 'admin', 'root-1']);
  const approve = byAction['release.approve'];
  assert.equal(approve.subject, done.release);
  assert.equal(approve.role, 'approver');
  assert.equal(approve.actor_name, 'approver person');
  assert.match(approve.actor, /^tok-/);
  assert.equal(byAction['release.create'].details.version, '1.0.0');
  assert.equal(byAction['device.revoke'].subject, done.device);
  assert.equal(byAction['device.revoke'].role, 'security');
  assert.equal(byAction['token.revoke'].subject, done.tempToken);
  assert.deepEqual(log[1].details, { name: 'uploader person', role: 'uploader' });

  // Secrets never reach the log, nor do their hashes.
  const text = JSON.stringify(log);
  for (const secret of [...Object.values(s.tokens), done.enrollSecret, done.tempSecret]) assert.ok(!text.includes(secret));
  assert.ok(!text.includes('token_sha256'));
});

test('an action refused by the role check or the two-person rule leaves no entry', async () => {
  const before = (await entries()).length;
  await expectProblem(assert, await s.api('POST', '/api/tokens', { token: s.tokens.operator, body: { name: 'x', role: 'admin' } }), 403, 'forbidden-role');
  await expectProblem(assert, await s.api('POST', `/api/releases/${done.release}/approve`, { token: s.tokens.approver2 }), 409, 'already-approved');
  await expectProblem(assert, await s.api('DELETE', '/api/tokens/tok-0000000000000000'), 404, 'not-found');
  assert.equal((await entries()).length, before);
});

test('GET /api/audit pages by after_seq and limit and refuses a bad query', async () => {
  const all = await entries();
  const first = await (await s.api('GET', '/api/audit?limit=3', { token: s.tokens.uploader })).json();
  assert.deepEqual(first.entries.map((e) => e.seq), [1, 2, 3]);
  assert.equal(first.next_after_seq, 3);
  const rest = await (await s.api('GET', '/api/audit?after_seq=3&limit=500', { token: s.tokens.security })).json();
  assert.deepEqual([...first.entries, ...rest.entries], all);
  assert.equal(rest.next_after_seq, null);
  const res = await s.api('GET', '/api/audit', { token: s.tokens.viewer });
  assert.equal(res.headers.get('cache-control'), 'no-store');
  for (const bad of ['limit=0', 'limit=501', 'after_seq=x', 'limt=5']) {
    await expectProblem(assert, await s.api('GET', `/api/audit?${bad}`, { token: s.tokens.viewer }), 400, 'invalid-query');
  }
});

test('GET /api/audit/export streams NDJSON in seq order and names the head it ends at', async () => {
  const all = await entries();
  const res = await s.api('GET', '/api/audit/export', { token: s.tokens.approver });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const last = all[all.length - 1];
  assert.equal(res.headers.get('updraft-audit-head'), `${last.seq}:${last.hash}`);
  const text = await res.text();
  assert.ok(text.endsWith('\n'));
  assert.deepEqual(text.trimEnd().split('\n').map((l) => JSON.parse(l)), all);
});

test('concurrent admin actions never fork the chain: each applied action has one entry, a refused one changed nothing', async (t) => {
  const before = (await entries()).length;
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) =>
    s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: `burst ${i}`, product: 'acme-thermostat' } })));
  const created = [];
  for (const res of results) {
    if (res.status === 201) created.push((await res.json()).id);
    else await expectProblem(assert, res, 503, 'unavailable');
  }
  assert.ok(created.length >= 1);
  t.diagnostic(`${created.length} of ${results.length} concurrent actions applied; the rest were refused whole after ${'retries'}`);
  const log = await entries();
  const burst = log.slice(before);
  assert.deepEqual(burst.map((e) => e.subject).sort(), created.sort());
  const stored = (await s.edge.db.prepare("SELECT COUNT(*) AS n FROM enroll_tokens WHERE name LIKE 'burst %'").first()).n;
  assert.equal(stored, created.length, 'no token exists without its audit entry');
  const v = cli(['--json', 'audit', 'verify']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.equal(v.json().head.seq, log.length);
});

test('updraft audit list and verify work against the server with a viewer token', async () => {
  const all = await entries();
  const head = all[all.length - 1];
  const v = cli(['audit', 'verify']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, new RegExp(`audit log OK: ${all.length} entries`));
  assert.match(v.stdout, new RegExp(`${head.seq}:${head.hash}`));
  const j = cli(['--json', 'audit', 'verify', '--expect-head', `${head.seq}:${head.hash}`]).json();
  assert.deepEqual([j.ok, j.entries, j.first_seq, j.head], [true, all.length, 1, { seq: head.seq, hash: head.hash }]);

  const list = cli(['audit', 'list', '--limit', '2']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^SEQ\s+AT \(UTC\)\s+ACTOR\s+ROLE\s+ACTION\s+SUBJECT/);
  assert.match(list.stdout, /root\.publish/);
  assert.match(list.stdout, /more: updraft audit list --after-seq 2/);
  assert.equal(cli(['--json', 'audit', 'list', '--after-seq', '2', '--limit', '1']).json().entries[0].seq, 3);

  const none = spawnSync(UPDRAFT, ['audit', 'verify', '--server', s.edge.url], { encoding: 'utf8', env: { ...process.env, UPDRAFT_TOKEN: '' } });
  assert.equal(none.status, 2, 'no token is a usage error');
});

test('an exported file verifies, and a tampered copy fails naming the entry', async () => {
  const file = join(s.dir, 'audit.ndjson');
  const exp = cli(['--json', 'audit', 'export', '--out', file]);
  assert.equal(exp.code, 0, exp.stdout + exp.stderr);
  const all = await entries();
  assert.deepEqual([exp.json().entries, exp.json().verified], [all.length, true]);
  assert.equal(cli(['audit', 'export', '--out', file]).code, 4, 'an existing file is not replaced without --force');
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, all.length);
  assert.equal(cli(['audit', 'verify', '--file', file]).code, 0);

  const variant = (name, edit) => {
    const path = join(s.dir, `audit-${name}.ndjson`);
    writeFileSync(path, edit(lines.map((l) => JSON.parse(l))).map((e) => JSON.stringify(e)).join('\n') + '\n');
    return path;
  };
  const expectBroken = (path, type, seq, message, extra = []) => {
    const r = cli(['--json', 'audit', 'verify', '--file', path, ...extra]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const { error } = r.json();
    assert.deepEqual([error.type, error.seq], [type, seq], error.message);
    assert.match(error.message, message);
    return error;
  };
  expectBroken(variant('edited', (es) => { es[4].subject = 'rel-forged'; return es; }), 'audit-entry-edited', 5, /entry 5 was edited/);
  expectBroken(variant('removed', (es) => es.filter((e) => e.seq !== 4)), 'audit-entry-removed', 4, /entry 4 was removed/);
  expectBroken(variant('reordered', (es) => { [es[3], es[4]] = [es[4], es[3]]; return es; }), 'audit-entries-reordered', 4, /reordered/);
  const head = all[all.length - 1];
  expectBroken(variant('truncated', (es) => es.slice(0, -2)), 'audit-log-truncated', all.length - 1, /truncated/, ['--expect-head', `${head.seq}:${head.hash}`]);

  // Human output names the file and the entry on stderr.
  const human = cli(['audit', 'verify', '--file', join(s.dir, 'audit-edited.ndjson')]);
  assert.equal(human.code, 1);
  assert.match(human.stderr, /audit-edited\.ndjson: entry 5 was edited/);
});

test('tampering with the D1 table is caught by updraft audit verify, naming the entry', async () => {
  const db = s.edge.db;
  const row = async (seq) => db.prepare('SELECT * FROM audit_log WHERE seq = ?1').bind(seq).first();
  const verify = () => cli(['--json', 'audit', 'verify']);
  const expectBroken = (type, seq, message) => {
    const r = verify();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const { error } = r.json();
    assert.deepEqual([error.type, error.seq], [type, seq], error.message);
    assert.match(error.message, message);
  };

  // An edited row.
  const third = await row(3);
  await db.prepare("UPDATE audit_log SET subject = 'tok-someone-else' WHERE seq = 3").run();
  expectBroken('audit-entry-edited', 3, /entry 3 was edited/);
  await db.prepare('UPDATE audit_log SET subject = ?1 WHERE seq = 3').bind(third.subject).run();
  assert.equal(verify().code, 0);

  // An edited row whose hash was recomputed is caught by the next one's link.
  const rewritten = { ...third, subject: 'tok-someone-else', details: JSON.parse(third.details) };
  await db.prepare('UPDATE audit_log SET subject = ?1, hash = ?2 WHERE seq = 3').bind(rewritten.subject, entryHash(rewritten)).run();
  expectBroken('audit-entry-rewritten', 3, /entry 3 was rewritten/);
  await db.prepare('UPDATE audit_log SET subject = ?1, hash = ?2 WHERE seq = 3').bind(third.subject, third.hash).run();
  assert.equal(verify().code, 0);

  // A deleted row.
  const fourth = await row(4);
  await db.prepare('DELETE FROM audit_log WHERE seq = 4').run();
  expectBroken('audit-entry-removed', 4, /entry 4 was removed/);
  const cols = Object.keys(fourth);
  await db.prepare(`INSERT INTO audit_log (${cols.join(', ')}) VALUES (${cols.map((_, i) => `?${i + 1}`).join(', ')})`).bind(...cols.map((c) => fourth[c])).run();
  assert.equal(verify().code, 0);

  // Two rows' seq swapped.
  const swap = async () => {
    await db.prepare('UPDATE audit_log SET seq = 1000000 WHERE seq = 5').run();
    await db.prepare('UPDATE audit_log SET seq = 5 WHERE seq = 6').run();
    await db.prepare('UPDATE audit_log SET seq = 6 WHERE seq = 1000000').run();
  };
  await swap();
  expectBroken('audit-entries-reordered', 5, /entry 6 is at the place of entry 5/);
  await swap();

  // Restored, the log verifies and keeps growing from the same chain.
  assert.equal(verify().code, 0);
  const before = (await entries()).length;
  assert.equal((await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'after', product: 'acme-thermostat' } })).status, 201);
  const ok = verify();
  assert.equal(ok.code, 0, ok.stdout);
  assert.equal(ok.json().head.seq, before + 1);
});
