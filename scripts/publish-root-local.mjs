// Publishes a signed root envelope into the local D1 for `make demo` and the
// tests, until the admin API (POST /api/roots) exists. The root's signatures
// are checked by `updraft root verify` beforehand; this only stores the row.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';

/** The `roots` row for a root envelope, exactly as the worker serves it. */
export function rootRow(envelope) {
  const payload = JSON.parse(Buffer.from(JSON.parse(envelope).payload, 'base64').toString('utf8'));
  return {
    version: Number(payload.version),
    envelope,
    sha256: createHash('sha256').update(envelope).digest('hex'),
    expires: Number(payload.expires),
    published_at: Math.floor(Date.now() / 1000),
  };
}

export const INSERT_ROOT =
  'INSERT OR IGNORE INTO roots (version, envelope, sha256, expires, published_at) VALUES (?1, ?2, ?3, ?4, ?5)';

// CLI: prints the SQL for `wrangler d1 execute --file`.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const path = process.argv[2];
  if (!path) {
    console.error('usage: publish-root-local.mjs ROOT.json');
    process.exit(2);
  }
  const r = rootRow(readFileSync(path, 'utf8'));
  const q = (s) => `'${String(s).replaceAll("'", "''")}'`;
  console.log(
    INSERT_ROOT.replace('?1', r.version).replace('?2', q(r.envelope)).replace('?3', q(r.sha256))
      .replace('?4', r.expires).replace('?5', r.published_at) + ';',
  );
}
