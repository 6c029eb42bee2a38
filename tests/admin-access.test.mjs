// Every admin route × every role × no token. The expected table is written
// here from DESIGN §6, independently of worker/src/routes.rs, so a route that
// loses or gains a role fails this test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { expectProblem } from './helpers/edge.mjs';
import { readyEdge, ROLES } from './helpers/setup.mjs';

const SHA = 'ab'.repeat(32);
const ALL = ROLES;
const ROUTES = [
  ['POST', '/api/tokens', ['admin']],
  ['GET', '/api/tokens', ['admin']],
  ['DELETE', '/api/tokens/tok-00000000', ['admin']],
  ['POST', '/api/enroll-tokens', ['operator', 'admin']],
  ['GET', '/api/enroll-tokens', ['operator', 'viewer', 'admin']],
  ['DELETE', '/api/enroll-tokens/enr-00000000', ['operator', 'admin']],
  ['PUT', `/api/artifacts/${SHA}`, ['uploader', 'admin']],
  ['POST', '/api/releases', ['uploader', 'admin']],
  ['GET', '/api/releases', ALL],
  ['GET', '/api/releases/rel-00000000', ALL],
  ['POST', '/api/releases/rel-00000000/approve', ['approver', 'admin']],
  ['POST', '/api/roots', ['admin']],
  ['POST', '/api/devices/dev-00000000/revoke', ['security', 'admin']],
  ['GET', '/api/devices/dev-00000000/reports', ALL],
  ['GET', '/api/audit', ALL],
  ['GET', '/api/audit/export', ALL],
  ['POST', '/api/campaigns', ['operator', 'admin']],
  ['GET', '/api/campaigns', ALL],
  ['GET', '/api/campaigns/cmp-00000000', ALL],
  ['GET', '/api/campaigns/cmp-00000000/series', ALL],
  ['POST', '/api/campaigns/cmp-00000000/approve', ['approver', 'admin']],
  ['POST', '/api/campaigns/cmp-00000000/start', ['operator', 'admin']],
  ['POST', '/api/campaigns/cmp-00000000/pause', ['operator', 'admin']],
  ['POST', '/api/campaigns/cmp-00000000/resume', ['operator', 'admin']],
  ['POST', '/api/campaigns/cmp-00000000/advance', ['operator', 'admin']],
  ['POST', '/api/campaigns/cmp-00000000/cancel', ['operator', 'admin']],
  ['POST', '/api/campaigns/cmp-00000000/rollback', ['operator', 'admin']],
  ['POST', '/api/campaigns/tick', ['admin']],
  ['GET', '/api/fleet', ALL],
  ['GET', '/api/me', ALL],
  ['GET', '/api/devices', ALL],
  ['GET', '/api/devices/dev-00000000', ALL],
  ['POST', '/api/revocations', ['security', 'admin']],
  ['GET', '/api/revocations', ALL],
  ['GET', '/api/revocations/1', ALL],
  ['POST', '/api/revocations/1/purge', ['security', 'admin']],
];

let s;
before(async () => {
  s = await readyEdge();
});
after(() => s?.stop());

for (const [method, path, allowed] of ROUTES) {
  test(`${method} ${path}: 401 without a token, 403 for other roles, served for ${allowed.join('/')}`, async () => {
    const none = await s.api(method, path, { token: null, body: method === 'GET' || method === 'DELETE' ? undefined : '{}' });
    await expectProblem(assert, none, 401, 'unauthorized');
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');

    const bogus = await s.api(method, path, { token: 'updt_not-a-real-token', body: method === 'GET' || method === 'DELETE' ? undefined : '{}' });
    await expectProblem(assert, bogus, 401, 'unauthorized');

    for (const role of ROLES) {
      const res = await s.api(method, path, { token: s.tokens[role], body: method === 'GET' || method === 'DELETE' ? undefined : '{}' });
      if (allowed.includes(role)) {
        assert.ok(![401, 403].includes(res.status), `${role} should pass the role check, got ${res.status}: ${await res.text()}`);
      } else {
        const body = await expectProblem(assert, res, 403, 'forbidden-role');
        assert.match(body.detail, new RegExp(`role \`${role}\``));
      }
    }
  });
}

test('a revoked API token stops working at once', async () => {
  const created = await (await s.api('POST', '/api/tokens', { body: { name: 'temp', role: 'viewer' } })).json();
  assert.equal((await s.api('GET', '/api/releases', { token: created.token })).status, 200);
  const revoked = await s.api('DELETE', `/api/tokens/${created.id}`);
  assert.equal(revoked.status, 200);
  await expectProblem(assert, await s.api('GET', '/api/releases', { token: created.token }), 401, 'unauthorized');
});

test('token listings never contain secrets or their hashes', async () => {
  const list = await (await s.api('GET', '/api/tokens')).json();
  const text = JSON.stringify(list);
  assert.ok(list.length >= 5);
  for (const role of ROLES.filter((r) => r !== 'admin')) assert.ok(!text.includes(s.tokens[role]));
  assert.ok(!text.includes('sha256'));
});

test('an unknown role is refused when creating a token', async () => {
  const res = await s.api('POST', '/api/tokens', { body: { name: 'x', role: 'root' } });
  const body = await expectProblem(assert, res, 400, 'malformed-body');
  assert.match(body.detail, /role/);
});
