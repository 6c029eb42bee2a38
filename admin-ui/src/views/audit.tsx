import { useEffect, useRef, useState } from 'preact/hooks';
import { AuditEntry, get, getToken } from '../api';
import { ChainHead, ChainResult, GENESIS, canonical, verifyChain } from '../audit-chain';
import { Empty, ErrorBox, Loading, Time, short } from '../ui';

interface Page {
  entries: AuditEntry[];
  next_after_seq: number | null;
}

const PAGE = 100;

/** Reads the log incrementally (after the last seq seen) and verifies each new piece from the last verified head. */
function useAudit(intervalMs: number) {
  const entries = useRef<AuditEntry[]>([]);
  const head = useRef<ChainHead>({ seq: 0, hash: GENESIS });
  const [version, setVersion] = useState(0);
  const [chain, setChain] = useState<ChainResult>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const running = useRef(false);
  const broken = useRef<ChainResult | null>(null);

  const poll = async () => {
    if (running.current) return;
    running.current = true;
    try {
      let after = entries.current.length ? entries.current[entries.current.length - 1].seq : 0;
      for (;;) {
        const page = await get<Page>(`/api/audit?after_seq=${after}&limit=500`);
        if (page.entries.length) {
          // Once broken, the break stays reported: later entries hang off an untrusted head.
          const result = broken.current ?? (await verifyChain(page.entries, head.current));
          if (result.ok) head.current = result.head;
          else broken.current = result;
          setChain(result);
          entries.current = entries.current.concat(page.entries);
          after = page.entries[page.entries.length - 1].seq;
          setVersion((v) => v + 1);
        } else if (!entries.current.length) {
          setChain({ ok: true, head: head.current });
        }
        if (page.next_after_seq === null) break;
      }
      setError(undefined);
    } catch (e) {
      setError(e as Error);
    } finally {
      running.current = false;
      setLoading(false);
    }
  };

  useEffect(() => {
    poll();
    const t = setInterval(() => document.visibilityState === 'visible' && poll(), intervalMs);
    return () => clearInterval(t);
  }, []);
  return { entries: entries.current, version, chain, error, loading, poll };
}

async function download(setError: (e: Error | undefined) => void) {
  setError(undefined);
  try {
    const res = await fetch('/api/audit/export', { headers: { authorization: `Bearer ${getToken()}` }, cache: 'no-store' });
    if (!res.ok) throw new Error(`export failed: ${res.status}`);
    const head = res.headers.get('updraft-audit-head');
    const blob = await res.blob();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `updraft-audit${head ? `-${head.split(':')[0]}` : ''}.ndjson`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (e) {
    setError(e as Error);
  }
}

export function AuditView() {
  const log = useAudit(10_000);
  const [action, setAction] = useState('');
  const [actor, setActor] = useState('');
  const [text, setText] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [page, setPage] = useState(0);
  const [exportError, setExportError] = useState<Error>();

  const actions = [...new Set(log.entries.map((e) => e.action))].sort();
  const actors = [...new Set(log.entries.map((e) => `${e.actor_name} (${e.actor})`))].sort();
  const fromT = from ? new Date(from).getTime() / 1000 : -Infinity;
  const toT = to ? new Date(to).getTime() / 1000 + 60 : Infinity;
  const needle = text.trim().toLowerCase();
  const filtered = log.entries
    .filter(
      (e) =>
        (!action || e.action === action || e.action.startsWith(`${action}.`)) &&
        (!actor || `${e.actor_name} (${e.actor})` === actor) &&
        e.at >= fromT &&
        e.at < toT &&
        (!needle || `${e.subject} ${canonical(e.details)}`.toLowerCase().includes(needle)),
    )
    .reverse();
  const pages = Math.max(1, Math.ceil(filtered.length / PAGE));
  const shown = filtered.slice(page * PAGE, page * PAGE + PAGE);
  const nouns = [...new Set(actions.map((a) => a.split('.')[0]))];

  return (
    <>
      <div class="page-head">
        <h1>Audit log</h1>
        <button type="button" onClick={() => download(setExportError)}>
          Export (NDJSON)
        </button>
      </div>
      <ErrorBox error={exportError} />
      <section class="card" aria-live="polite">
        {!log.chain ? (
          <Loading />
        ) : log.chain.ok ? (
          <p class="chain ok" data-testid="chain-status">
            <span aria-hidden="true">✓</span> Chain verified in this browser: {log.chain.head.seq} entries, every hash recomputed and linked. Head{' '}
            <code title={log.chain.head.hash}>
              {log.chain.head.seq}:{short(log.chain.head.hash, 16)}
            </code>{' '}
            — record it somewhere else and check later exports against it (<code>updraft audit verify --expect-head</code>).
          </p>
        ) : (
          <p class="chain broken" role="alert" data-testid="chain-status">
            <span aria-hidden="true">✗</span> Chain broken at entry {log.chain.seq}: {log.chain.problem}. Do not trust entries from there on; run{' '}
            <code>updraft audit verify</code>.
          </p>
        )}
      </section>
      <section class="card">
        <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
          <label class="field compact">
            <span>Action</span>
            <select name="action" value={action} onChange={(e) => (setAction((e.target as HTMLSelectElement).value), setPage(0))}>
              <option value="">all</option>
              {nouns.map((n) => (
                <optgroup label={n}>
                  <option value={n}>{n}.*</option>
                  {actions
                    .filter((a) => a.startsWith(`${n}.`))
                    .map((a) => (
                      <option value={a}>{a}</option>
                    ))}
                </optgroup>
              ))}
            </select>
          </label>
          <label class="field compact">
            <span>Actor</span>
            <select name="actor" value={actor} onChange={(e) => (setActor((e.target as HTMLSelectElement).value), setPage(0))}>
              <option value="">anyone</option>
              {actors.map((a) => (
                <option value={a}>{a}</option>
              ))}
            </select>
          </label>
          <label class="field compact">
            <span>Subject or details contain</span>
            <input name="q" value={text} onInput={(e) => (setText((e.target as HTMLInputElement).value), setPage(0))} />
          </label>
          <label class="field compact">
            <span>From (local)</span>
            <input type="datetime-local" name="from" value={from} onInput={(e) => (setFrom((e.target as HTMLInputElement).value), setPage(0))} />
          </label>
          <label class="field compact">
            <span>To (local)</span>
            <input type="datetime-local" name="to" value={to} onInput={(e) => (setTo((e.target as HTMLInputElement).value), setPage(0))} />
          </label>
        </form>
        <ErrorBox error={log.error} retry={log.poll} />
        {log.loading ? (
          <Loading />
        ) : filtered.length === 0 ? (
          <Empty>{log.entries.length ? 'No entry matches these filters.' : 'The log is empty: no admin action has been taken yet.'}</Empty>
        ) : (
          <>
            <p class="small muted" data-testid="audit-count">
              {filtered.length} of {log.entries.length} entries, newest first
            </p>
            <div class="table-wrap">
              <table class="data" data-testid="audit">
                <thead>
                  <tr>
                    <th scope="col">#</th>
                    <th scope="col">When</th>
                    <th scope="col">Who</th>
                    <th scope="col">Action</th>
                    <th scope="col">Subject</th>
                    <th scope="col">Details</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((e) => (
                    <tr>
                      <td class="num" title={`hash ${e.hash}\nprev ${e.prev}`}>
                        {e.seq}
                      </td>
                      <td>
                        <Time at={e.at} />
                      </td>
                      <td>
                        {e.actor_name}
                        <div class="small muted">
                          {e.role} · <span class="mono">{e.actor}</span>
                        </div>
                      </td>
                      <td>
                        <code>{e.action}</code>
                      </td>
                      <td class="mono small">{e.subject}</td>
                      <td class="mono small details">{canonical(e.details)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {pages > 1 && (
              <div class="pager">
                <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
                  ← Newer
                </button>
                <span class="small">
                  page {page + 1} of {pages}
                </span>
                <button type="button" disabled={page + 1 >= pages} onClick={() => setPage(page + 1)}>
                  Older →
                </button>
              </div>
            )}
          </>
        )}
      </section>
    </>
  );
}
