// Setup of docs/runbooks/disaster-recovery.md for tests/docs.test.mjs.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readyEdge, makeRelease } from '../helpers/setup.mjs';
import { publishApproved } from '../helpers/releases.mjs';
import { makeDevice } from '../helpers/agent.mjs';
import { snapshotD1, restoreD1 } from '../helpers/d1-snapshot.mjs';
import { REPO } from '../helpers/edge.mjs';

const payload = (envelope) => JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));

/**
 * disaster-recovery.md: the edge as a D1 Time Travel restore leaves it.
 *
 * Before the restore point: root v1, tokens, release 1.1.0 approved.
 * After it (and lost by the restore): release 1.2.0 published and approved,
 * an image revoked (seq 1), an enrollment token made. The operators' off-site
 * copy of the audit log (an export taken before the disaster) and the head
 * they recorded are files here; the release files CI produced are in
 * RELEASES. Then D1 is put back to the restore point (tests/helpers/d1-snapshot.mjs:
 * every table as it was; R2, the Durable Objects and the cache untouched,
 * as with Time Travel). The runbook's `wrangler d1 time-travel` blocks are
 * skipped (they act on a Cloudflare account); everything after runs here.
 *
 * A lab device (the real firmware-agent) that never reached the edge, with
 * root v1 as its anchor, waits to be re-bootstrapped from an offline bundle.
 * CHECKOUT is this repository (make tools runs there).
 *
 * Afterwards: the audit chain verifies and has grown past the restore point;
 * the lost revocation is back at the same seq; 1.2.0 is approved again; the
 * lab device runs 1.2.0 from the bundle, enrolled with a new token, and its
 * reports reached the edge.
 */
export default async function disasterRecovery() {
  const s = await readyEdge();
  const releases = join(s.dir, 'releases');
  mkdirSync(releases);
  const keep = (r) => {
    copyFileSync(r.manifestPath, join(releases, `release-${r.manifest.version}.json`));
    copyFileSync(r.firmware, join(releases, `acme-thermostat-${r.manifest.version}.img`));
  };
  const r110 = makeRelease(s.dir, { version: '1.1.0', securityVersion: 1 });
  await publishApproved(s, r110);
  keep(r110);

  // The restore point.
  const bookmark = await snapshotD1(s.edge.db);
  await new Promise((r) => setTimeout(r, 1100));

  // Lost by the restore.
  const r120 = makeRelease(s.dir, { version: '1.2.0', securityVersion: 1 });
  await publishApproved(s, r120);
  keep(r120);
  const bad = makeRelease(s.dir, { version: '1.1.5', securityVersion: 1, marker: 'bootloops rev B' });
  const revoked = await s.api('POST', '/api/revocations', { token: s.tokens.security,
    body: { reason: 'bootloops rev B boards (found by QA on 1.1.5 builds)', sha256: [bad.sha256] } });
  if (revoked.status !== 201) throw new Error(`revocation: ${revoked.status} ${await revoked.text()}`);
  const lostSeq = (await revoked.json()).seq;
  await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'factory line 2', product: 'acme-thermostat', max_uses: 500 } });

  // The operators' off-site copy, kept before the disaster.
  const offsite = join(s.dir, 'offsite');
  mkdirSync(offsite);
  const exported = await s.api('GET', '/api/audit/export', { token: s.tokens.viewer });
  const lastHead = exported.headers.get('updraft-audit-head');
  writeFileSync(join(offsite, 'audit.ndjson'), await exported.text());
  writeFileSync(join(offsite, 'audit-head.txt'), `${lastHead}\n`);

  // What `wrangler d1 time-travel restore` does.
  await restoreD1(s.edge.db, bookmark);

  // A device that never reached the edge: root v1 as its anchor, no token yet.
  const lab = makeDevice(join(s.dir, 'lab'), { server: s.edge.url, anchor: s.rootPath, token: '', serial: 'LAB-DR-1' });

  const env = {
    UPDRAFT_SERVER: s.edge.url,
    ADMIN_TOKEN: s.tokens.admin,
    UPLOADER_TOKEN: s.tokens.uploader,
    APPROVER_TOKEN: s.tokens.approver,
    SECURITY_TOKEN: s.tokens.security,
    OPERATOR_TOKEN: s.tokens.operator,
    VIEWER_TOKEN: s.tokens.viewer,
    ROOT: s.rootPath,
    CHECKOUT: REPO,
    OFFSITE: offsite,
    RELEASES: releases,
    LAB_AGENT_CONFIG: lab.config,
    RESTORE_TO: new Date(bookmark.at).toISOString(),
  };

  async function check(v) {
    const restoredSeq = bookmark.tables.find((t) => t.name === 'audit_log').rows.length;
    const audit = await (await s.api('GET', '/api/audit?limit=500', { token: s.tokens.viewer })).json();
    const redone = audit.entries.filter((e) => e.seq > restoredSeq).map((e) => e.action);
    for (const action of ['revocation.create', 'release.create', 'release.approve', 'enroll-token.create']) {
      assert.ok(redone.includes(action), `${action} redone after the restore point: ${redone}`);
    }
    const list = payload(await (await s.edge.fetch('/v1/revocations.json')).json());
    assert.equal(list.seq, lostSeq, 'the lost revocation is back at the seq devices saw');
    assert.ok(list.revoked.some((r) => r.sha256 === bad.sha256));
    const rel = await (await s.api('GET', `/api/releases/${v.RELEASE_ID}`, { token: s.tokens.viewer })).json();
    assert.equal(rel.version, '1.2.0');
    assert.equal(rel.status, 'approved');
    const status = await lab.status();
    assert.ok(status.device_id, 'the lab device enrolled');
    assert.equal(status.pending_reports, 0);
    assert.equal(status.slots.find((x) => x?.sha256 === r120.sha256)?.version, '1.2.0', JSON.stringify(status));
    const device = await (await s.api('GET', `/api/devices/${status.device_id}`, { token: s.tokens.viewer })).json();
    assert.equal((device.device ?? device).running_version, '1.2.0', JSON.stringify(device));
  }
  return { env, vars: ['RELEASE_ID'], check, stop: () => s.stop() };
}
