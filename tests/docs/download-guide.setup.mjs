// Setup of docs/download-guide.md for tests/docs.test.mjs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readyEdge, makeRelease } from '../helpers/setup.mjs';
import { publishApproved } from '../helpers/releases.mjs';

/**
 * download-guide.md: what a customer holds after a vendor published a
 * release. An edge with root v1 (`ROOT`), an approved release 1.1.0 of
 * acme-thermostat for thermo-v2 (`FIRMWARE` and its signed manifest
 * `RELEASE`, as the vendor hands them out), an older release revoked (so the
 * signed revocation list is not empty), and an enrollment token for a lab
 * unit (`UPDRAFT_ENROLL_TOKEN`). No campaign: the edge offers the newest
 * approved release to any older device, as a fleet without rollouts gets it.
 *
 * Afterwards: the lab unit enrolled and downloaded exactly the release's
 * bytes, the release verified by hand matches what the edge serves, and the
 * rehearsal device installed the offline bundle, committed it in slot B and
 * raised its security floor.
 */
export default async function downloadGuide() {
  const s = await readyEdge();
  const release = makeRelease(s.dir, { version: '1.1.0', securityVersion: 2, size: 256 * 1024 });
  const old = makeRelease(s.dir, { version: '1.0.1', securityVersion: 1 });
  const releaseId = await publishApproved(s, release);
  const oldId = await publishApproved(s, old);
  const revoked = await s.api('POST', '/api/revocations', {
    token: s.tokens.security,
    body: { reason: 'setup: 1.0.1 was pulled', release_ids: [oldId] },
  });
  if (revoked.status !== 201) throw new Error(`revoking 1.0.1: ${revoked.status} ${await revoked.text()}`);
  const et = await s.api('POST', '/api/enroll-tokens', {
    token: s.tokens.operator,
    body: { name: 'download guide lab unit', product: 'acme-thermostat', max_uses: 5 },
  });
  if (et.status !== 201) throw new Error(`enrollment token: ${et.status} ${await et.text()}`);
  const env = {
    UPDRAFT_SERVER: s.edge.url,
    ROOT: s.rootPath,
    RELEASE: release.manifestPath,
    FIRMWARE: release.firmware,
    UPDRAFT_ENROLL_TOKEN: (await et.json()).token,
  };

  async function check(v) {
    // What the guide computed by hand is what the vendor signed.
    assert.equal(v.SHA, release.sha256);
    assert.equal(v.DOWNLOADED_SHA, release.sha256);
    const lab = createHash('sha256').update(readFileSync(v.LAB_IMAGE)).digest('hex');
    assert.equal(lab, release.sha256, 'the lab unit downloaded the release bytes');
    // The lab unit enrolled at this edge.
    const device = await s.api('GET', `/api/devices/${v.LAB_DEVICE}`, { token: s.tokens.viewer });
    assert.equal(device.status, 200, await device.clone().text());
    // The rehearsal device committed the bundle's image in slot B.
    const boot = JSON.parse(readFileSync(join(v.REHEARSAL, 'state', 'boot.env'), 'utf8'));
    const status = JSON.parse(v.AGENT_STATUS);
    assert.equal(status.good, 'b', v.AGENT_STATUS);
    assert.equal(status.trial, null, v.AGENT_STATUS);
    assert.equal(status.security_floor, 2, v.AGENT_STATUS);
    assert.ok(JSON.stringify(boot).includes(release.sha256), JSON.stringify(boot));
    const slotB = createHash('sha256').update(readFileSync(join(v.REHEARSAL, 'slots', 'slot-b.img'))).digest('hex');
    assert.equal(slotB, release.sha256);
    // Nothing in the guide changed what the edge serves.
    const list = JSON.parse(Buffer.from((await (await s.edge.fetch('/v1/revocations.json')).json()).payload, 'base64'));
    assert.equal(list.seq, 1);
    assert.ok(!list.revoked.some((r) => r.sha256 === release.sha256));
    assert.ok(list.revoked.some((r) => r.sha256 === old.sha256));
    assert.equal((await (await s.api('GET', `/api/releases/${releaseId}`, { token: s.tokens.viewer })).json()).status, 'approved');
  }
  return {
    env,
    vars: ['SHA', 'DOWNLOADED_SHA', 'LAB_IMAGE', 'LAB_DEVICE', 'REHEARSAL', 'AGENT_STATUS'],
    check,
    stop: () => s.stop(),
  };
}
