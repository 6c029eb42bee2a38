// A local stand-in for D1 Time Travel, for the disaster-recovery runbook's
// test (tests/docs/disaster-recovery.setup.mjs): snapshot every table of a
// D1 database (Miniflare's binding), and later put the database back exactly
// as it was then, which is what `wrangler d1 time-travel restore` does to a
// production database. Durable Objects and R2 are left alone, as Time Travel
// leaves them.

// Parents before children (foreign keys: releases → artifacts, campaigns → releases).
const FIRST = ['roots', 'artifacts', 'releases', 'campaigns'];

async function tables(db) {
  const { results } = await db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'")
    .all();
  const names = results.map((r) => r.name);
  return [...FIRST.filter((t) => names.includes(t)), ...names.filter((t) => !FIRST.includes(t)).sort()];
}

/** Every row of every table: { at (ms), tables: [{ name, rows }] }. */
export async function snapshotD1(db) {
  const out = [];
  for (const name of await tables(db)) {
    const { results } = await db.prepare(`SELECT * FROM "${name}"`).all();
    out.push({ name, rows: results });
  }
  return { at: Date.now(), tables: out };
}

/** Puts `snapshot` back: rows added since are gone, rows changed or removed since are as they were. */
export async function restoreD1(db, snapshot) {
  const statements = [db.prepare('PRAGMA defer_foreign_keys = on')];
  for (const { name } of [...snapshot.tables].reverse()) statements.push(db.prepare(`DELETE FROM "${name}"`));
  for (const { name, rows } of snapshot.tables) {
    for (const row of rows) {
      const cols = Object.keys(row);
      statements.push(db.prepare(`INSERT INTO "${name}" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`)
        .bind(...cols.map((c) => row[c])));
    }
  }
  await db.batch(statements);
}
