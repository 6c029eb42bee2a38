// Setup of docs/runbooks/key-rotation.md for tests/docs.test.mjs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRelease } from '../helpers/setup.mjs';
import { publishApproved, runningCampaign } from '../helpers/releases.mjs';
import { updraft, UPDRAFT } from '../helpers/cli.mjs';
import { makeDevice } from '../helpers/agent.mjs';
import { readyKeyedEdge, secretControl } from '../helpers/restartable-edge.mjs';
import { REPO } from '../helpers/edge.mjs';

const payload = (envelope) => JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
const keyid = (pubPath) => JSON.parse(readFileSync(pubPath, 'utf8')).keyid;

/**
 * key-rotation.md: a restartable edge (tests/helpers/restartable-edge.mjs)
 * with root v1 of three root keys, two needed (root-a, root-b, root-c), one
 * release key, one edge key; an approved release 1.1.0 signed by that release
 * key; the image of the next release (1.2.0) as CI built it; a manifest
 * signed with the release key that nobody published (the "found in the
 * wild" one the compromise case revokes); a probe device enrolled with the
 * CLI under a hardware id no release names; a lab device running the real
 * firmware-agent, enrolled. SECRET_PUT is tests/helpers/local-secret-put.sh:
 * `$SECRET_PUT UPDRAFT_EDGE_KEY < FILE` restarts the local workerd with the
 * new secret and the same storage (what `npx wrangler secret put` does to a
 * deployed worker).
 *
 * Afterwards: the edge serves the root chain up to the runbook's last root;
 * its latest root names only the new edge key and release key and the new
 * root keys with threshold 2; the edge's directives are signed by the new
 * edge key and verify under that root; the lab device walked to the new roots
 * and runs 1.2.0, signed by the new release key; the forged image is revoked.
 */
export default async function keyRotation() {
  const s = await readyKeyedEdge({ rootKeys: 3, rootThreshold: 2 });
  const control = await secretControl(s.edge);
  const old110 = makeRelease(s.dir, { version: '1.1.0', securityVersion: 1 });
  const id110 = await publishApproved(s, old110);
  // Another product, rolled out by a campaign of a release the old key signed.
  const bell = makeRelease(s.dir, { product: 'acme-doorbell', hardware: ['bell-v1'], version: '2.0.0' });
  await runningCampaign(s, await publishApproved(s, bell), 'doorbell 2.0.0');

  // The image of the next release: built by CI, not yet signed.
  const next = makeRelease(s.dir, { version: '1.2.0', securityVersion: 1, signWith: null });
  // A manifest signed with the release key that nobody published.
  const suspects = join(s.dir, 'suspects');
  mkdirSync(suspects);
  const forged = makeRelease(s.dir, { version: '9.9.9', securityVersion: 9, marker: 'not ours' });
  copyFileSync(forged.manifestPath, join(suspects, 'found-on-a-mirror.json'));

  const enroll = async (name, uses = 1) => {
    const r = await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name, product: 'acme-thermostat', max_uses: uses } });
    return (await r.json()).token;
  };
  // The probe: never offered anything (no release names its hardware id).
  const probe = { dir: join(s.dir, 'probe'), key: join(s.dir, 'probe.key') };
  updraft(['device', 'enroll', '--server', s.edge.url, '--enroll-token', await enroll('probe'), '--key', probe.key,
    '--hardware-id', 'lab-probe', '--serial', 'PROBE-1', '--out', probe.dir]);
  // The lab device: the real agent, enrolled under root v1 and the old edge key.
  const lab = makeDevice(join(s.dir, 'lab'), { server: s.edge.url, anchor: s.rootPath, token: await enroll('lab'), serial: 'LAB-1' });
  const enrolled = await lab.runAsync(['enroll']);
  if (enrolled.status !== 0) throw new Error(`lab device enroll: ${enrolled.stderr}`);

  const env = {
    UPDRAFT_SERVER: s.edge.url,
    ADMIN_TOKEN: s.tokens.admin,
    UPLOADER_TOKEN: s.tokens.uploader,
    APPROVER_TOKEN: s.tokens.approver,
    SECURITY_TOKEN: s.tokens.security,
    OPERATOR_TOKEN: s.tokens.operator,
    VIEWER_TOKEN: s.tokens.viewer,
    ROOT_ANCHOR: s.rootPath,
    ROOT_KEY_A: join(s.dir, 'root-a.key'),
    ROOT_KEY_B: join(s.dir, 'root-b.key'),
    ROOT_KEY_C: join(s.dir, 'root-c.key'),
    FIRMWARE: next.firmware,
    SUSPECTS: suspects,
    PROBE_DIR: probe.dir,
    PROBE_KEY: probe.key,
    LAB_AGENT_CONFIG: lab.config,
    SECRET_PUT: join(REPO, 'tests', 'helpers', 'local-secret-put.sh'),
    UPDRAFT_LOCAL_CONTROL: control.url,
  };

  async function check(v) {
    const latest = Number(v.N);
    assert.ok(latest >= 5, `the runbook published roots up to v${latest}`);
    for (let n = 1; n <= latest; n++) assert.equal((await s.edge.fetch(`/v1/root/${n}.json`)).status, 200, `root v${n}`);
    assert.equal((await s.edge.fetch(`/v1/root/${latest + 1}.json`)).status, 404);
    const root = payload(await (await s.edge.fetch(`/v1/root/${latest}.json`)).json());
    const newEdge = keyid(join(v.CEREMONY, 'edge-new.key.pub'));
    const newRelease = keyid(join(v.CEREMONY, 'release-new.key.pub'));
    const newRoot = keyid(join(v.CEREMONY, 'root-d.key.pub'));
    assert.deepEqual(root.roles.edge.keyids, [newEdge]);
    assert.deepEqual(root.roles.release.keyids, [newRelease]);
    assert.equal(root.roles.root.threshold, 2);
    assert.ok(root.roles.root.keyids.includes(newRoot) && !root.roles.root.keyids.includes(keyid(`${env.ROOT_KEY_C}.pub`)), JSON.stringify(root.roles.root));
    // Only the new edge key signs now: one restart, through the stand-in.
    assert.deepEqual(control.puts.map((p) => p.name), ['UPDRAFT_EDGE_KEY']);
    // A directive, fetched here, verifies under the runbook's chain and is signed by the new edge key.
    const chain = Array.from({ length: latest }, (_, i) => join(v.CEREMONY, `root-${i + 1}.json`));
    const body = join(s.dir, 'check-body.json');
    writeFileSync(body, JSON.stringify({ current: { version: '1.0.0', sha256: '00'.repeat(32), security_version: 1 },
      nonce: `check-${Date.now()}`, root_version: 1, revocation_seq: 0 }));
    const auth = updraft(['device', 'sign-request', '--key', probe.key, '--cert', join(probe.dir, 'cert.json'),
      '--path', '/v1/check', '--body', body]).trim();
    const res = await s.edge.fetch('/v1/check', { method: 'POST', body: readFileSync(body), headers: { authorization: auth, 'content-type': 'application/json' } });
    assert.equal(res.status, 200, await res.clone().text());
    const directive = await res.text();
    writeFileSync(join(s.dir, 'directive.json'), directive);
    const verified = spawnSync(UPDRAFT, ['--json', 'verify', ...chain.flatMap((r) => ['--root', r]), join(s.dir, 'directive.json')], { encoding: 'utf8' });
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    const report = JSON.parse(verified.stdout);
    assert.equal(report.root_version, latest);
    assert.deepEqual(report.signatures[0].valid, [newEdge]);
    // The lab device: on the newest root, running 1.2.0 signed by the new release key.
    const status = await lab.status();
    assert.equal(status.root_version, latest);
    const running = status.slots[status.booted === 'a' ? 0 : 1] ?? status.slots.find(Boolean);
    assert.equal(running?.version, '1.2.0', JSON.stringify(status));
    const rel = await (await s.api('GET', `/api/releases/${v.NEXT_RELEASE}`, { token: s.tokens.viewer })).json();
    assert.deepEqual(rel.signers, [newRelease]);
    // The old release no longer verifies, so it is no longer offered.
    const old = await (await s.api('GET', `/api/releases/${id110}`, { token: s.tokens.viewer })).json();
    assert.deepEqual(old.signers, []);
    // The forged image is revoked in the list devices fetch.
    const list = payload(await (await s.edge.fetch('/v1/revocations.json')).json());
    assert.ok(list.revoked.some((r) => r.sha256 === forged.sha256), JSON.stringify(list));
    // "A product that had campaigns gets nothing until the next release is
    // rolled out with a campaign": the doorbell's campaign release no longer
    // verifies, and its next release, signed by the new key and approved, is
    // not handed to every doorbell by the baseline offer.
    const bell21 = makeRelease(v.CEREMONY, { product: 'acme-doorbell', hardware: ['bell-v1'], version: '2.1.0', signWith: 'release-new.key' });
    await publishApproved(s, bell21);
    const t = await (await s.api('POST', '/api/enroll-tokens', { token: s.tokens.operator, body: { name: 'bell', product: 'acme-doorbell' } })).json();
    const bellDev = { dir: join(s.dir, 'bell'), key: join(s.dir, 'bell.key') };
    updraft(['device', 'enroll', '--server', s.edge.url, '--enroll-token', t.token, '--key', bellDev.key, '--hardware-id', 'bell-v1', '--serial', 'BELL-1', '--out', bellDev.dir]);
    const offered = JSON.parse(updraft(['--json', 'device', 'check', '--server', s.edge.url, '--dir', bellDev.dir, '--key', bellDev.key,
      '--version', '1.0.0', '--sha256', 'cd'.repeat(32), '--security-version', '1']));
    assert.equal(offered.action.type, 'none', JSON.stringify(offered.action));
  }
  return {
    env,
    vars: ['N', 'NEXT_RELEASE', 'CEREMONY'],
    check,
    stop: async () => { await control.stop(); await s.stop(); },
  };
}
