// Runs the real firmware-agent binary (target/release/firmware-agent, built
// by `make build`) as a device: its own state dir, files-backend slots with a
// factory image in slot A, a config written here, the root as trust anchor.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import http from 'node:http';
import { REPO } from './edge.mjs';

export const AGENT = join(REPO, 'target', 'release', 'firmware-agent');

export const FACTORY_BYTES = Buffer.from('factory image 1.0.0\n'.repeat(256));
export const FACTORY_SHA = createHash('sha256').update(FACTORY_BYTES).digest('hex');

/**
 * Creates a device in `dir`. Options: server, anchor (root file), token,
 * hardwareId, health (shell command), checkpointBytes, extra (TOML appended),
 * slots (lines of the [slots] table instead of the files backend), factory
 * (extra lines of the [factory] table).
 */
export function makeDevice(dir, { server, anchor, token, hardwareId = 'thermo-v2', health, checkpointBytes = 65536, serial, extra = '', slots, factory = '', sampleIntervalS }) {
  mkdirSync(join(dir, 'slots'), { recursive: true });
  writeFileSync(join(dir, 'slots', 'slot-a.img'), FACTORY_BYTES);
  writeFileSync(join(dir, 'enroll-token'), token ?? '');
  const config = join(dir, 'agent.toml');
  const toml = [
    `server = "${server}"`,
    `state_dir = "${join(dir, 'state')}"`,
    `hardware_id = "${hardwareId}"`,
    `serial = "${serial ?? `SN-${dir.split('/').pop()}`}"`,
    `trust_anchor = "${anchor}"`,
    `enroll_token_file = "${join(dir, 'enroll-token')}"`,
    '[factory]', 'version = "1.0.0"', 'security_version = 1', factory,
    '[slots]', ...(slots ?? ['backend = "files"', `dir = "${join(dir, 'slots')}"`]),
    '[health]', health ? `command = ${JSON.stringify(health)}` : '', 'deadline_s = 10', 'max_boot_attempts = 3',
    sampleIntervalS === undefined ? '' : `sample_interval_s = ${sampleIntervalS}`,
    '[poll]', 'min_s = 1', 'max_s = 5', 'jitter = 0.0', 'backoff_max_s = 2',
    '[download]', 'read_timeout_s = 10', `checkpoint_bytes = ${checkpointBytes}`,
    '[device]', 'tz = "America/Chicago"', 'network = "wifi"',
    extra,
  ].join('\n');
  writeFileSync(config, toml + '\n');
  const device = {
    dir,
    config,
    stateDir: join(dir, 'state'),
    slot: (s) => join(dir, 'slots', `slot-${s}.img`),
    /** Runs a subcommand synchronously; returns { status, signal, stdout, stderr }. */
    run(args = ['run', '--once'], { env = {}, timeout = 60_000 } = {}) {
      const [cmd, ...rest] = args;
      const r = spawnSync(AGENT, [cmd, '--config', config, ...rest], { encoding: 'utf8', timeout, env: { ...process.env, ...env } });
      return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
    },
    /** Same, without blocking the event loop (needed when the edge runs in this process). */
    runAsync(args = ['run', '--once'], { env = {}, timeout = 60_000 } = {}) {
      const [cmd, ...rest] = args;
      return new Promise((resolve) => {
        const child = spawn(AGENT, [cmd, '--config', config, ...rest], { env: { ...process.env, ...env } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
        child.on('close', (status, signal) => {
          clearTimeout(timer);
          resolve({ status, signal, stdout, stderr });
        });
      });
    },
    async status() {
      const r = await device.runAsync(['status']);
      if (r.status !== 0) throw new Error(`status failed: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    bootEnv() {
      return JSON.parse(readFileSync(join(dir, 'state', 'boot.env'), 'utf8'));
    },
    journal() {
      const p = join(dir, 'state', 'journal.json');
      return existsSync(p) ? JSON.parse(readFileSync(p, 'utf8')) : null;
    },
  };
  return device;
}

export function sha256File(path, length) {
  const bytes = readFileSync(path);
  return createHash('sha256').update(length === undefined ? bytes : bytes.subarray(0, length)).digest('hex');
}

/**
 * An HTTP proxy in front of the edge that can misbehave on artifact
 * downloads: `plan(req)` returns undefined (pass through) or
 * { cutAfter: n } (send n body bytes, then drop the connection) or
 * { flipAt: n } (flip one byte of the body at offset n).
 * Records every request as { method, url, range }.
 */
export async function startProxy(target, plan = () => undefined) {
  const seen = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    seen.push({ method: req.method, url: req.url, range: req.headers.range });
    const headers = { ...req.headers };
    delete headers.host;
    const upstream = await fetch(target + req.url, {
      method: req.method,
      headers,
      body: chunks.length ? Buffer.concat(chunks) : undefined,
      redirect: 'manual',
    });
    const action = plan(req) ?? {};
    const out = {};
    upstream.headers.forEach((v, k) => {
      if (!['content-encoding', 'transfer-encoding', 'connection'].includes(k)) out[k] = v;
    });
    res.writeHead(upstream.status, out);
    let sent = 0;
    for await (const chunk of upstream.body ?? []) {
      let buf = Buffer.from(chunk);
      if (action.flipAt !== undefined && action.flipAt >= sent && action.flipAt < sent + buf.length) {
        buf = Buffer.from(buf);
        buf[action.flipAt - sent] ^= 0xff;
      }
      if (action.cutAfter !== undefined && sent + buf.length > action.cutAfter) {
        res.write(buf.subarray(0, action.cutAfter - sent));
        await new Promise((r) => setTimeout(r, 50));
        res.socket.destroy();
        return;
      }
      res.write(buf);
      sent += buf.length;
    }
    res.end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, stop: () => new Promise((r) => server.close(r)) };
}
