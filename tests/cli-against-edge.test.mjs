// The operator CLI against the real worker: tokens, enrollment tokens, root
// rotation, publish (streamed upload + register) and the two-person rule,
// with the exit codes scripts rely on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { UPDRAFT, updraft } from './helpers/cli.mjs';

let s;
before(async () => {
  s = await readyEdge();
});
after(() => s?.stop());

/** Runs the CLI as `token`'s holder; returns { status, stdout, stderr }. */
function as(token, args) {
  const env = { ...process.env, UPDRAFT_SERVER: s.edge.url, UPDRAFT_TOKEN: token };
  return spawnSync(UPDRAFT, args, { env, encoding: 'utf8' });
}

test('an admin creates an uploader token that works, shown once', () => {
  const r = as(s.tokens.admin, ['tokens', 'create', '--name', 'CI uploader', '--role', 'uploader']);
  assert.equal(r.status, 0, r.stderr);
  const token = r.stdout.trim();
  assert.match(token, /^updt_[0-9a-f]{64}$/);
  assert.match(r.stderr, /only once/);
  const list = as(s.tokens.admin, ['--json', 'tokens', 'list']);
  assert.equal(list.status, 0, list.stderr);
  assert.ok(!list.stdout.includes(token));
  assert.equal(as(token, ['releases', 'list']).status, 0);
});

test('a viewer cannot create tokens: exit 5 with the problem slug', () => {
  const r = as(s.tokens.viewer, ['--json', 'tokens', 'create', '--name', 'x', '--role', 'admin']);
  assert.equal(r.status, 5);
  assert.equal(JSON.parse(r.stdout).error.type, 'forbidden-role');
});

test('root rotation is published with the CLI and served', () => {
  const v2 = join(s.dir, 'root-2-cli.json');
  updraft(['root', 'rotate', '--from', s.rootPath, '--out', v2, '--sign', join(s.dir, 'root.key')]);
  const r = as(s.tokens.admin, ['root', 'publish', v2]);
  assert.equal(r.status, 0, r.stderr);
  const again = as(s.tokens.admin, ['--json', 'root', 'publish', v2]);
  assert.equal(again.status, 5);
});

test('publish streams the artifact and registers the release; the uploader cannot approve it; an approver can', () => {
  const rel = makeRelease(s.dir, { version: '4.0.0', size: 3 * 1024 * 1024 });
  const pub = as(s.tokens.uploader, ['--json', 'publish', rel.manifestPath, '--firmware', rel.firmware]);
  assert.equal(pub.status, 0, pub.stderr);
  const out = JSON.parse(pub.stdout);
  assert.equal(out.release.status, 'pending');
  assert.equal(out.artifact.length, rel.length);

  const self = as(s.tokens.uploader, ['--json', 'approve', out.release.id]);
  assert.equal(self.status, 5);
  assert.equal(JSON.parse(self.stdout).error.type, 'forbidden-role');

  const ok = as(s.tokens.approver, ['approve', out.release.id]);
  assert.equal(ok.status, 0, ok.stderr);
  const show = as(s.tokens.viewer, ['--json', 'releases', 'show', out.release.id]);
  assert.equal(JSON.parse(show.stdout).status, 'approved');
});

test('publish refuses firmware that does not match the manifest before sending anything', () => {
  const rel = makeRelease(s.dir, { version: '4.0.1' });
  const other = makeRelease(s.dir, { version: '4.0.2' });
  const r = as(s.tokens.uploader, ['publish', rel.manifestPath, '--firmware', other.firmware]);
  assert.equal(r.status, 1);
});

test('enrollment tokens: create, list, revoke', () => {
  const c = as(s.tokens.operator, ['--json', 'enroll-tokens', 'create', '--name', 'line 9', '--product', 'acme-thermostat', '--max-uses', '5', '--expires-in', '2h']);
  assert.equal(c.status, 0, c.stderr);
  const created = JSON.parse(c.stdout);
  assert.equal(created.max_uses, 5);
  assert.equal(as(s.tokens.operator, ['enroll-tokens', 'revoke', created.id]).status, 0);
  const list = JSON.parse(as(s.tokens.viewer, ['--json', 'enroll-tokens', 'list']).stdout);
  const items = Array.isArray(list) ? list : list.tokens ?? list.enroll_tokens ?? [];
  assert.ok(items.some((t) => t.id === created.id && t.revoked_at));
});
