// Setup of docs/tutorial.md for tests/docs.test.mjs.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/cli.mjs';
import { laterEdge } from '../helpers/later-edge.mjs';

/** KEY=value lines, as wrangler's --env-file reads them (single quotes around a value are dropped). */
function parseEnvFile(text) {
  const vars = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  }
  return vars;
}

/** Every process whose working directory is inside `dir`: what the tutorial left running (the fleet, the ticker). */
function processesIn(dir) {
  if (!existsSync('/proc')) return [];
  const pids = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) pids.push(Number(pid));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/**
 * docs/tutorial.md does everything itself, from the keys on: the setup gives
 * it only a working directory ($TUTORIAL) and the address of an edge
 * ($UPDRAFT_SERVER) that does not run yet. A person starts the edge in a
 * second terminal with `wrangler dev --env-file edge.env` once the tutorial
 * has written that file (the edge key it generated, a download secret, a
 * bootstrap token); here the same file starts the built worker in Miniflare
 * behind that address, with the rate limits raised as the tutorial raises
 * them. Afterwards: root v1 is the tutorial's, the good campaign completed
 * through every wave, the bad one halted in the canary with its rollback
 * ordered, all 20 devices are back on 1.1.0 and hold the revocation list,
 * and 1.2.0 is revoked (seq 1, 410, in the signed list).
 */
export default async function tutorial() {
  const dir = realpathSync(tempDir('updraft-tutorial-'));
  const edge = await laterEdge();
  const envFile = join(dir, 'edge.env');
  let secrets;
  let seen;
  // Starts the edge once edge.env is complete and unchanged over two looks.
  const watcher = setInterval(() => {
    if (!existsSync(envFile)) return;
    const text = readFileSync(envFile, 'utf8');
    if (text !== seen) {
      seen = text;
      return;
    }
    const vars = parseEnvFile(text);
    if (!vars.UPDRAFT_EDGE_KEY || !vars.UPDRAFT_DOWNLOAD_SECRET || !vars.UPDRAFT_BOOTSTRAP_TOKEN) return;
    clearInterval(watcher);
    secrets = vars;
    edge.start({ bindings: vars, unlimited: true }).catch((e) => console.error(`# the tutorial's edge did not start: ${e.stack}`));
  }, 200);

  const api = async (path, token) => {
    const res = await edge.fetch(path, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, `GET ${path}: ${res.status} ${await res.clone().text()}`);
    return res.json();
  };

  async function check(v) {
    assert.ok(secrets, 'the edge was started from the edge.env the tutorial wrote');
    const admin = secrets.UPDRAFT_BOOTSTRAP_TOKEN;
    assert.equal(v.BOOTSTRAP_TOKEN, admin);

    // Root v1 on the edge is the one the tutorial signed, naming its edge key.
    const root = await (await edge.fetch('/v1/root/1.json')).json();
    assert.deepEqual(root, JSON.parse(readFileSync(join(dir, 'root-1.json'), 'utf8')));
    const rootPayload = JSON.parse(Buffer.from(root.payload, 'base64'));
    const edgeKeyId = JSON.parse(readFileSync(join(dir, 'edge.key.pub'), 'utf8')).keyid;
    assert.deepEqual(rootPayload.roles.edge.keyids, [edgeKeyId]);

    // One token per role.
    const tokenList = await api('/api/tokens', admin);
    const tokens = Array.isArray(tokenList) ? tokenList : tokenList.tokens;
    for (const role of ['uploader', 'approver', 'operator', 'security', 'viewer']) {
      assert.ok(tokens.some((t) => t.role === role && !t.revoked_at), `a ${role} token: ${JSON.stringify(tokens)}`);
    }

    // Both releases: uploaded by one person, approved by another.
    for (const id of [v.GOOD_RELEASE, v.BAD_RELEASE]) {
      const r = await api(`/api/releases/${id}`, admin);
      assert.equal(r.status, 'approved', id);
      assert.ok(r.uploaded_by && r.approved_by && r.uploaded_by !== r.approved_by, JSON.stringify(r));
    }

    // The good rollout went through every wave, with no failure.
    const good = await api(`/api/campaigns/${v.GOOD_CAMPAIGN}`, admin);
    assert.equal(good.campaign.state.state, 'completed', JSON.stringify(good.campaign.state));
    assert.deepEqual(good.waves.map((w) => w.name), ['staging', 'canary', 'half', 'everyone']);
    for (const w of good.waves) {
      assert.ok(w.counters.succeeded > 0, `${w.name} updated devices`);
      assert.equal(w.counters.failed + w.counters.rolled_back + w.counters.expired, 0, w.name);
    }

    // The bad one halted by its gate in the canary (staging passed), rollback ordered, no later wave exposed.
    const bad = await api(`/api/campaigns/${v.BAD_CAMPAIGN}`, admin);
    assert.equal(bad.campaign.state.state, 'halted', JSON.stringify(bad.campaign.state));
    assert.equal(bad.campaign.state.wave, 1, 'halted in the canary');
    assert.equal(bad.campaign.state.rollback, true);
    assert.ok(bad.waves[1].counters.rolled_back > 0, JSON.stringify(bad.waves[1].counters));
    assert.equal(bad.waves[2].counters.offered + bad.waves[3].counters.offered, 0, 'the waves after the canary were never offered 1.2.0');
    assert.ok(bad.history.some((h) => JSON.stringify(h).includes('halt')), JSON.stringify(bad.history));

    // Every device is back on 1.1.0, at the edge and in the fleet's own summary.
    const fleet = await api('/api/fleet', admin);
    assert.equal(fleet.devices, 20);
    assert.deepEqual(fleet.by.filter((b) => b.running_version !== '1.1.0'), [], JSON.stringify(fleet.by));
    const summary = JSON.parse(readFileSync(join(dir, 'fleet-summary.json'), 'utf8'));
    assert.deepEqual(summary.versions, { '1.1.0': 20 });
    assert.ok(summary.rolled_back['health-check-failed'] > 0, JSON.stringify(summary.rolled_back));
    assert.ok(summary.rolled_back.ordered > 0, JSON.stringify(summary.rolled_back));
    assert.deepEqual(summary.revocation_seqs, { [v.SEQ]: 20 }, 'every device holds the new list');

    // 1.2.0 is revoked: the list's first entry, in the signed list devices fetch, and its image is gone.
    assert.equal(v.SEQ, '1');
    const record = await api(`/api/revocations/${v.SEQ}`, admin);
    assert.deepEqual(record.release_ids, [v.BAD_RELEASE]);
    const listed = JSON.parse(Buffer.from((await (await edge.fetch('/v1/revocations.json')).json()).payload, 'base64'));
    assert.equal(listed.seq, 1);
    assert.ok(listed.revoked.some((r) => r.sha256 === v.BAD_SHA), JSON.stringify(listed));
    const gone = await edge.fetch(`/v1/artifacts/${v.BAD_SHA}`);
    assert.equal(gone.status, 410);
    assert.equal((await gone.json()).type, 'urn:updraft:problem:artifact-revoked');

    // Nothing of the tutorial is left running (a ticker's last `sleep 1` may take a second to end).
    for (let i = 0; i < 30 && processesIn(dir).length; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(processesIn(dir), [], 'the fleet and the ticker were stopped');
  }

  return {
    env: { UPDRAFT_SERVER: edge.url, TUTORIAL: dir },
    vars: ['BOOTSTRAP_TOKEN', 'GOOD_RELEASE', 'BAD_RELEASE', 'GOOD_CAMPAIGN', 'BAD_CAMPAIGN', 'SEQ', 'BAD_SHA'],
    check,
    async stop() {
      clearInterval(watcher);
      // After a failed block the fleet or the ticker may still run: only processes living in this test's directory.
      for (const pid of processesIn(dir)) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      await edge.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
