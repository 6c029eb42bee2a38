// The audit log's hash chain, checked in the browser the way core/src/audit.rs
// (`updraft audit verify`) defines it, format `updraft.audit.v1`:
//
//   SHA-256( "updraft.audit.v1\n" ‖ u64be(seq) ‖ u64be(at) ‖ str(actor) ‖ str(actor_name)
//            ‖ str(role) ‖ str(action) ‖ str(subject) ‖ str(canonical_json(details)) ‖ prev[32] )
//   str(s) = u32be(UTF-8 length) ‖ UTF-8 bytes
import { AuditEntry } from './api';

export const GENESIS = '0'.repeat(64);

/** Sorted keys, no whitespace, minimal escapes: JSON.stringify's escaping is core's. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

const enc = new TextEncoder();

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

function str(s: string): Uint8Array[] {
  const bytes = enc.encode(s);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, bytes.length);
  return [len, bytes];
}

function fromHex(h: string): Uint8Array {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export async function entryHash(e: AuditEntry): Promise<string> {
  const parts = [
    enc.encode('updraft.audit.v1\n'),
    u64(e.seq),
    u64(e.at),
    ...[e.actor, e.actor_name, e.role, e.action, e.subject, canonical(e.details)].flatMap(str),
    fromHex(/^[0-9a-f]{64}$/.test(e.prev) ? e.prev : GENESIS),
  ];
  const total = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    buf.set(p, off);
    off += p.length;
  }
  const digest = await crypto.subtle.digest('SHA-256', buf);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export interface ChainHead {
  seq: number;
  hash: string;
}

export type ChainResult = { ok: true; head: ChainHead } | { ok: false; seq: number; problem: string };

/** Checks `entries` (in order) continuing from `from` (the genesis for a whole log). */
export async function verifyChain(entries: AuditEntry[], from: ChainHead = { seq: 0, hash: GENESIS }): Promise<ChainResult> {
  let head = from;
  for (const e of entries) {
    if (e.seq !== head.seq + 1) {
      return {
        ok: false,
        seq: e.seq,
        problem: e.seq > head.seq + 1 ? `entries ${head.seq + 1}–${e.seq - 1} are missing (removed)` : `entry ${e.seq} is out of order (reordered)`,
      };
    }
    if (e.prev !== head.hash) return { ok: false, seq: e.seq, problem: `entry ${e.seq} does not link to entry ${head.seq} (an entry was rewritten)` };
    if ((await entryHash(e)) !== e.hash) return { ok: false, seq: e.seq, problem: `entry ${e.seq}'s fields do not hash to its hash (edited)` };
    head = { seq: e.seq, hash: e.hash };
  }
  return { ok: true, head };
}
