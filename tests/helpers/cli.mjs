// Runs the real `updraft` CLI built by `make build` (target/release/updraft).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './edge.mjs';

export const UPDRAFT = join(REPO, 'target', 'release', 'updraft');

export function updraft(args, opts = {}) {
  return execFileSync(UPDRAFT, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

export function tempDir(prefix = 'updraft-test-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Generates root/release/edge keys and a signed root v1 in `dir`. */
export function makeRoot(dir, { product = 'acme-thermostat', expiresDays = 365 } = {}) {
  for (const k of ['root', 'release', 'edge']) updraft(['keys', 'generate', '--out', join(dir, `${k}.key`)]);
  const path = join(dir, 'root-1.json');
  updraft([
    'root', 'init', '--product', product,
    '--root-key', join(dir, 'root.key.pub'), '--root-threshold', '1',
    '--release-key', join(dir, 'release.key.pub'), '--release-threshold', '1',
    '--edge-key', join(dir, 'edge.key.pub'),
    '--expires-days', String(expiresDays),
    '--sign', join(dir, 'root.key'),
    '--out', path,
  ]);
  return path;
}
