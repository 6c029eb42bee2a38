// `updraft revoke` and `updraft revocations …` (the real CLI) against the real
// worker in Miniflare (DESIGN §5, issue 6): nothing is sent unconfirmed, only
// the security role revokes, a release revoked with a replacement raises the
// seq by one, halts its campaign and starts a fix-forward campaign, its image
// answers 410, the record shows the purge (not configured on a local edge),
// the signed list verifies under the root with the new seq, and the edge's
// refusals come back as exit 5 with their slug.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { UPDRAFT } from './helpers/cli.mjs';
import { publishApproved, runningCampaign } from './helpers/releases.mjs';

const CLI = process.env.UPDRAFT_BIN ?? UPDRAFT;

let s;
let bad;
let fix;
let badId;
let fixId;
let campaignId;

/** Runs `updraft ARGS` with the token of ROLE against the test edge. */
function cli(args, role) {
  const env = { ...process.env, UPDRAFT_TOKEN: s.tokens[role], UPDRAFT_SERVER: s.edge.url };
  const r = spawnSync(CLI, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
}

function ok(args, role) {
  const r = cli(args, role);
  assert.equal(r.code, 0, `updraft ${args.join(' ')}\n${r.stdout}${r.stderr}`);
  return r;
}

before(async () => {
  s = await readyEdge();
  bad = makeRelease(s.dir, { version: '1.2.0', securityVersion: 2 });
  fix = makeRelease(s.dir, { version: '1.2.1', securityVersion: 2 });
  badId = await publishApproved(s, bad);
  fixId = await publishApproved(s, fix);
  campaignId = await runningCampaign(s, badId, 'acme 1.2.0 rollout');
});
after(() => s?.stop());

test('nothing is revoked without --yes when no one can be asked, nor by a role other than security', () => {
  const unconfirmed = cli(['revoke', '--release', badId, '--reason', 'bootloop'], 'security');
  assert.equal(unconfirmed.code, 2);
  assert.match(unconfirmed.stderr, /--yes/);
  assert.match(unconfirmed.stderr, /nothing was sent/);
  for (const role of ['operator', 'approver', 'uploader', 'viewer']) {
    const r = cli(['--json', 'revoke', '--release', badId, '--reason', 'bootloop', '--yes'], role);
    assert.equal(r.code, 5, `${role}: ${r.stdout}`);
    assert.equal(r.json().error.type, 'forbidden-role');
    assert.equal(r.json().error.status, 403);
  }
  const list = ok(['--json', 'revocations', 'list'], 'viewer').json();
  assert.equal(list.seq, 0);
  assert.deepEqual(list.revocations, []);
  assert.match(ok(['revocations', 'list'], 'viewer').stdout, /nothing was ever revoked/);
  // The list devices fetch exists before anything is revoked: seq 0.
  assert.equal(ok(['--json', 'revocations', 'verify', '--root', s.rootPath], 'viewer').json().seq, 0);
});

test('revoking a release with a replacement: seq + 1, campaign halted, fix-forward started, image gone, list signed', async () => {
  const r = ok(['--json', 'revoke', '--release', badId, '--replacement', fixId, '--reason', 'CVE-2026-1234: bootloop on rev B boards', '--yes'], 'security');
  const answer = r.json();
  assert.equal(answer.ok, true);
  assert.equal(answer.seq, 1);
  assert.equal(answer.revocation.seq, 1);
  assert.deepEqual(answer.revocation.release_ids, [badId]);
  assert.deepEqual(answer.revocation.sha256, [bad.sha256]);
  assert.deepEqual(answer.halted_campaigns, [campaignId]);
  assert.match(answer.fix_forward_campaign_id, /^cmp-/);
  assert.equal(answer.revocation.purge.status, 'not-configured');
  assert.equal(answer.list.payloadType, 'application/vnd.updraft.revocations+json');
  const fixCampaign = answer.fix_forward_campaign_id;

  const gone = await s.edge.fetch(`/v1/artifacts/${bad.sha256}`);
  assert.equal(gone.status, 410);
  assert.equal((await gone.json()).type, 'urn:updraft:problem:artifact-revoked');
  assert.equal(ok(['--json', 'campaign', 'status', campaignId], 'viewer').json().campaign.state.state, 'halted');
  const offered = ok(['--json', 'campaign', 'status', fixCampaign], 'operator').json();
  assert.equal(offered.campaign.release_id, fixId);
  assert.equal(offered.campaign.state.state, 'running');

  const shown = ok(['revocations', 'show', '1'], 'viewer').stdout;
  assert.match(shown, /^revocation seq 1 by security person at /);
  assert.match(shown, new RegExp(`halted       ${campaignId}`));
  assert.match(shown, new RegExp(`fix-forward  campaign ${fixCampaign} offers ${fixId}`));
  assert.match(shown, /purge        not configured/);
  assert.match(shown, new RegExp(`url        ${s.edge.url}/v1/artifacts/${bad.sha256}`));
  const record = ok(['--json', 'revocations', 'show', '1'], 'viewer').json();
  assert.equal(record.purge.status, 'not-configured');
  assert.ok(record.purge.tags.includes(`artifact-${bad.sha256}`), JSON.stringify(record.purge));
  const listed = ok(['revocations', 'list'], 'viewer').stdout;
  assert.match(listed, /revocation list seq 1/);
  assert.match(listed, /1 release, 1 image/);

  // A purge is retried by security only; watch ends at once (nothing to wait for locally).
  assert.equal(cli(['--json', 'revocations', 'purge', '1'], 'operator').json().error.type, 'forbidden-role');
  assert.equal(ok(['--json', 'revocations', 'purge', '1'], 'security').json().purge.status, 'not-configured');
  assert.match(ok(['revocations', 'watch', '1', '--timeout', '30'], 'viewer').stdout, /not configured/);

  const verified = ok(['--json', 'revocations', 'verify', '--root', s.rootPath, '--min-seq', '1', '--revoked', bad.sha256], 'viewer').json();
  assert.equal(verified.seq, 1);
  assert.equal(verified.root_version, 1);
  assert.equal(verified.list.revoked[0].reason, 'CVE-2026-1234: bootloop on rev B boards');
  const ahead = cli(['--json', 'revocations', 'verify', '--root', s.rootPath, '--min-seq', '2'], 'viewer');
  assert.equal(ahead.code, 1);
  assert.equal(ahead.json().error.type, 'revocation-seq-too-low');
  const notRevoked = cli(['--json', 'revocations', 'verify', '--root', s.rootPath, '--revoked', fix.sha256], 'viewer');
  assert.equal(notRevoked.code, 1);
  assert.equal(notRevoked.json().error.type, 'not-revoked');
});

test('a security floor raises the seq again and is in the signed list', () => {
  const r = ok(['--json', 'revoke', '--min-security-version', 'acme-thermostat=3', '--reason', 'floor for CVE-2026-1234', '--yes'], 'security');
  assert.equal(r.json().seq, 2);
  assert.deepEqual(r.json().revocation.min_security_version, { 'acme-thermostat': 3 });
  const verified = ok(['--json', 'revocations', 'verify', '--root', s.rootPath, '--min-seq', '2'], 'viewer').json();
  assert.equal(verified.list.min_security_version['acme-thermostat'], 3);
  const again = cli(['--json', 'revoke', '--min-security-version', 'acme-thermostat=3', '--reason', 'again', '--yes'], 'security');
  assert.equal(again.code, 5, again.stdout);
  assert.equal(again.json().error.type, 'floor-not-raised');
});

test("the edge's refusals exit 5 with their slug, and a bad request never leaves the CLI", async () => {
  const unknown = cli(['--json', 'revoke', '--release', 'rel-0000000000000000', '--reason', 'x', '--yes'], 'security');
  assert.equal(unknown.code, 5, unknown.stdout);
  assert.equal(unknown.json().error.type, 'unknown-release');

  // A replacement that is only pending approval cannot be offered.
  const pending = makeRelease(s.dir, { version: '1.3.0', securityVersion: 3 });
  const put = await s.api('PUT', `/api/artifacts/${pending.sha256}`, { token: s.tokens.uploader, body: pending.bytes, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201);
  const pendingId = (await (await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: pending.envelope })).json()).id;
  const other = makeRelease(s.dir, { version: '1.2.5', securityVersion: 3 });
  const otherId = await publishApproved(s, other);
  const notApproved = cli(['--json', 'revoke', '--release', otherId, '--replacement', pendingId, '--reason', 'x', '--yes'], 'security');
  assert.equal(notApproved.code, 5, notApproved.stdout);
  assert.equal(notApproved.json().error.type, 'replacement-not-approved');
  // The revoked release cannot be anyone's replacement.
  const revoked = cli(['--json', 'revoke', '--release', otherId, '--replacement', badId, '--reason', 'x', '--yes'], 'security');
  assert.equal(revoked.code, 5, revoked.stdout);
  assert.equal(revoked.json().error.type, 'replacement-revoked');

  // Checked locally with the edge's own rules: exit 2, and the seq did not move.
  const both = cli(['--json', 'revoke', '--release', otherId, '--replacement', otherId, '--reason', 'x', '--yes'], 'security');
  assert.equal(both.code, 2);
  assert.match(both.json().error.message, /--replacement/);
  assert.equal(cli(['--json', 'revoke', '--release', otherId, '--reason', ' ', '--yes'], 'security').code, 2);
  assert.equal(ok(['--json', 'revocations', 'list'], 'viewer').json().seq, 2);
  const missing = cli(['--json', 'revocations', 'show', '9'], 'viewer');
  assert.equal(missing.code, 5);
  assert.equal(missing.json().error.status, 404);
});
