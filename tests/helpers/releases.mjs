// Releases and campaigns on a readyEdge(), through the admin API, for suites
// that need an approved release (or a running campaign of one) to act on.
import { spawnSync } from 'node:child_process';
import { UPDRAFT } from './cli.mjs';

async function expectStatus(res, status, what) {
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Uploads a makeRelease() image and manifest (uploader), approves it (approver); returns the release id. */
export async function publishApproved(s, release) {
  const put = await s.api('PUT', `/api/artifacts/${release.sha256}`, {
    token: s.tokens.uploader, body: release.bytes, headers: { 'content-type': 'application/octet-stream' },
  });
  if (put.status !== 201 && put.status !== 200) throw new Error(`uploading ${release.sha256}: ${put.status} ${await put.text()}`);
  const { id } = await expectStatus(await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: release.envelope }), 201, 'publishing');
  await expectStatus(await s.api('POST', `/api/releases/${id}/approve`, { token: s.tokens.approver }), 200, `approving ${id}`);
  return id;
}

/** A campaign of `releaseId` from the CLI's own template, created (operator), approved (approver) and started; returns its id. */
export async function runningCampaign(s, releaseId, name = `rollout of ${releaseId}`) {
  const plain = spawnSync(UPDRAFT, ['campaign', 'template', '--plain', '--release', releaseId], { encoding: 'utf8' });
  if (plain.status !== 0) throw new Error(`campaign template: ${plain.stderr}`);
  const spec = JSON.parse(plain.stdout);
  spec.name = name;
  spec.selector.device_ids = ['dev-staging-1', 'dev-staging-2', 'dev-staging-3'];
  const created = await expectStatus(await s.api('POST', '/api/campaigns', { token: s.tokens.operator, body: spec }), 201, 'creating a campaign');
  const id = created.id ?? created.campaign?.id;
  await expectStatus(await s.api('POST', `/api/campaigns/${id}/approve`, { token: s.tokens.approver }), 200, `approving ${id}`);
  await expectStatus(await s.api('POST', `/api/campaigns/${id}/start`, { token: s.tokens.operator }), 200, `starting ${id}`);
  return id;
}
