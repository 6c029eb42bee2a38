// Setup of docs/runbooks/emergency-revocation.md for tests/docs.test.mjs.
import assert from 'node:assert/strict';
import { readyEdge, makeRelease } from '../helpers/setup.mjs';
import { publishApproved, runningCampaign } from '../helpers/releases.mjs';

/**
 * emergency-revocation.md: an approved older release (1.1.0, security 2), an
 * approved bad release (1.2.0, security 3) with a running campaign, an
 * approved fix (1.2.1, security 3), and a stand-in of Cloudflare's purge API
 * (Miniflare's outbound interception) that accepts every purge. The runbook
 * takes its fix-forward path: RAISE_FLOOR_TO=3 (1.1.0 has the hole too), so
 * the confirmation typed is REVOKE. Afterwards the bad image answers 410,
 * the list's seq rose by one, revokes it and floors the product at 3, the
 * campaign is halted, a fix-forward campaign offers the fix, and the purge
 * succeeded through the API, by URL and by cache tag.
 */
export default async function emergencyRevocation() {
  const purges = [];
  const zone = 'zone-of-the-runbook-test';
  const s = await readyEdge({
    bindings: { CLOUDFLARE_ZONE_ID: zone, CLOUDFLARE_API_TOKEN: 'cf-token-of-the-runbook-test' },
    outbound: async (request) => {
      purges.push({ url: request.url, body: JSON.parse(await request.text()) });
      const body = { success: true, errors: [], messages: [], result: { id: zone } };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    },
  });
  const older = makeRelease(s.dir, { version: '1.1.0', securityVersion: 2 });
  const bad = makeRelease(s.dir, { version: '1.2.0', securityVersion: 3 });
  const fix = makeRelease(s.dir, { version: '1.2.1', securityVersion: 3 });
  await publishApproved(s, older);
  const badId = await publishApproved(s, bad);
  const fixId = await publishApproved(s, fix);
  const campaignId = await runningCampaign(s, badId, 'acme 1.2.0 rollout');
  const env = {
    UPDRAFT_SERVER: s.edge.url,
    UPDRAFT_TOKEN: s.tokens.security,
    OPERATOR_TOKEN: s.tokens.operator,
    BAD_RELEASE: badId,
    FIX_RELEASE: fixId,
    ROOT: s.rootPath,
    REASON: 'runbook test: bootloop on rev B boards',
    RAISE_FLOOR_TO: '3',
  };
  async function check(v) {
    assert.equal(v.BAD_SHA, bad.sha256);
    assert.equal(Number(v.SEQ), Number(v.BEFORE_SEQ) + 1);
    const gone = await s.edge.fetch(`/v1/artifacts/${bad.sha256}`);
    assert.equal(gone.status, 410);
    assert.equal((await gone.json()).type, 'urn:updraft:problem:artifact-revoked');
    const record = await (await s.api('GET', `/api/revocations/${v.SEQ}`, { token: s.tokens.viewer })).json();
    assert.deepEqual(record.release_ids, [badId]);
    assert.deepEqual(record.min_security_version, { 'acme-thermostat': 3 });
    assert.equal(record.reason, env.REASON);
    assert.ok(record.halted_campaigns.includes(campaignId), JSON.stringify(record));
    assert.equal(record.fix_forward_campaign_id, v.FIX_CAMPAIGN);
    assert.equal(record.purge.status, 'succeeded', JSON.stringify(record.purge));
    assert.ok(purges.every((p) => p.url === `https://api.cloudflare.com/client/v4/zones/${zone}/purge_cache`), JSON.stringify(purges));
    assert.ok(purges.some((p) => p.body.files?.includes(`${s.edge.url}/v1/artifacts/${bad.sha256}`)), JSON.stringify(purges));
    assert.ok(purges.some((p) => p.body.tags?.includes(`artifact-${bad.sha256}`)), JSON.stringify(purges));
    const listed = JSON.parse(Buffer.from((await (await s.edge.fetch('/v1/revocations.json')).json()).payload, 'base64'));
    assert.equal(listed.seq, Number(v.SEQ));
    assert.ok(listed.revoked.some((r) => r.sha256 === bad.sha256));
    assert.equal(listed.min_security_version['acme-thermostat'], 3);
    // Below the floor, the older image answers 410 too.
    assert.equal((await s.edge.fetch(`/v1/artifacts/${older.sha256}`)).status, 410);
    const halted = await (await s.api('GET', `/api/campaigns/${campaignId}`, { token: s.tokens.viewer })).json();
    assert.equal((halted.campaign ?? halted).state.state, 'halted');
    const fixForward = await (await s.api('GET', `/api/campaigns/${v.FIX_CAMPAIGN}`, { token: s.tokens.viewer })).json();
    assert.equal((fixForward.campaign ?? fixForward).release_id, fixId);
  }
  return { env, vars: ['SEQ', 'BEFORE_SEQ', 'BAD_SHA', 'FIX_CAMPAIGN'], check, stop: () => s.stop() };
}
