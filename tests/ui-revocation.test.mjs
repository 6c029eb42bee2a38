// The admin UI's emergency revocation in a real browser (chromium through
// playwright-core) against the built worker in Miniflare, with Cloudflare's
// purge API replaced by a local stand-in (Miniflare's outbound interception):
// a security person revokes a release with a typed confirmation and a
// fix-forward, watches the purge fail and retries it; a viewer sees no
// revocation controls and the API refuses them anyway.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readyEdge, makeRelease } from './helpers/setup.mjs';
import { launch, openPage, go, shot } from './helpers/ui.mjs';

let s;
let browser;
const pages = [];
const purges = [];
let purgeStatus = 500;
const bad = {};
const fix = {};

before(async () => {
  const outbound = async (request) => {
    purges.push({ url: request.url, body: await request.text() });
    return new Response(JSON.stringify({ success: purgeStatus === 200, errors: purgeStatus === 200 ? [] : [{ code: 1, message: 'stand-in outage' }] }), {
      status: purgeStatus,
      headers: { 'content-type': 'application/json' },
    });
  };
  s = await readyEdge({ bindings: { CLOUDFLARE_ZONE_ID: 'zone0123456789abcdef', CLOUDFLARE_API_TOKEN: 'cf-purge-token-for-tests' }, outbound });
  browser = await launch();
  for (const [r, version] of [[bad, '1.2.0'], [fix, '1.2.1']]) {
    Object.assign(r, makeRelease(s.dir, { version, securityVersion: 2, size: 2048 }));
    assert.equal((await s.api('PUT', `/api/artifacts/${r.sha256}`, { token: s.tokens.uploader, body: r.bytes })).status, 201);
    r.id = (await (await s.api('POST', '/api/releases', { token: s.tokens.uploader, body: r.envelope })).json()).id;
    assert.equal((await s.api('POST', `/api/releases/${r.id}/approve`, { token: s.tokens.approver })).status, 200);
  }
});

after(async () => {
  await browser?.close();
  await s?.stop();
});

async function page(token) {
  const p = await openPage(browser, s.edge.url, { token });
  pages.push(p);
  return p;
}

test('a viewer sees the (empty) revocation history but no revoke form, and the API refuses a viewer\'s revocation', async () => {
  const v = await page(s.tokens.viewer);
  await go(v, '#/revocations');
  await v.getByText('Nothing has been revoked.').waitFor();
  assert.equal(await v.getByRole('button', { name: 'Revoke…' }).count(), 0);
  const res = await s.api('POST', '/api/revocations', { token: s.tokens.viewer, body: { reason: 'x', release_ids: [bad.id] } });
  assert.equal(res.status, 403);
});

test('security revokes a release with a typed confirmation and a fix-forward; the purge fails, is shown, and is retried by hand', async () => {
  const p = await page(s.tokens.security);
  await go(p, '#/revocations');
  // Nothing chosen: the form says what is missing before any request.
  await p.getByRole('button', { name: 'Revoke…' }).click();
  await p.getByText('Give a reason').waitFor();
  await p.getByLabel('Reason').fill('CVE-2026-1234: bootloop on rev B boards');
  await p.locator(`input[name="revoke-${bad.id}"]`).check();
  await p.locator('select[name=replacement]').selectOption(fix.id);
  await p.getByRole('button', { name: 'Revoke…' }).click();
  const dialog = p.getByRole('dialog');
  const confirm = dialog.getByRole('button', { name: 'Revoke', exact: true });
  assert.ok(await confirm.isDisabled(), 'nothing is revoked before the word is typed');
  await dialog.getByLabel(/Type .* to confirm/).fill('revoke');
  assert.ok(await confirm.isDisabled(), 'the word is case-sensitive');
  await dialog.getByLabel(/Type .* to confirm/).fill('REVOKE');
  await confirm.click();
  await p.getByTestId('revoke-result').getByText(/Revocation list seq 1 signed\..*Fix-forward campaign cmp-/).waitFor();

  const list = await (await s.api('GET', '/api/revocations', { token: s.tokens.viewer })).json();
  assert.equal(list.seq, 1);
  assert.deepEqual(list.revocations[0].release_ids, [bad.id]);
  assert.equal(list.revocations[0].replacement_release_id, fix.id);
  assert.ok(purges.length >= 1, 'the purge API was called');

  // The stand-in answered 500: the purge is pending (retried by the cron) with its error shown.
  const purge = p.getByTestId('purge-1');
  await purge.getByText(/purge (pending|failed)/).waitFor();
  await purge.getByText(/last error:/).waitFor();
  assert.match(await p.getByTestId('revocations').textContent(), new RegExp(`release ${bad.id}[\\s\\S]*fix forward to ${fix.id}`));
  await shot(p, 'revocation');

  purgeStatus = 200;
  await purge.getByRole('button', { name: 'Retry purge now' }).click();
  await purge.getByText('purge succeeded').waitFor();
  assert.equal((await (await s.api('GET', '/api/revocations/1', { token: s.tokens.viewer })).json()).purge.status, 'succeeded');
  // The artifact is gone for devices.
  assert.equal((await s.edge.fetch(`/v1/artifacts/${bad.sha256}`)).status !== 200, true);
});

test('the revocation is in the audit log the browser verifies', async () => {
  const p = await page(s.tokens.viewer);
  await go(p, '#/audit');
  await p.getByTestId('chain-status').getByText(/Chain verified/).waitFor();
  await p.locator('select[name=action]').selectOption('revocation');
  const text = await p.getByTestId('audit').textContent();
  assert.match(text, /revocation\.create/);
  assert.match(text, /revocation\.purge/);
  assert.doesNotMatch(text, /campaign\.|release\./);
});

test('no page asked another origin for anything, and none logged a script error', () => {
  for (const p of pages) {
    assert.deepEqual(p.foreign, []);
    assert.deepEqual(p.errors.filter((e) => !/Failed to load resource: the server responded with a status of (400|401|403|404|409)/.test(e)), []);
  }
});
