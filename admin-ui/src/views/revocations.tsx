// Emergency revocation (DESIGN §5): revoke releases or artifacts, raise a
// product's security floor, optionally fix forward to a replacement release;
// then watch the CDN purge. Contract: POST/GET /api/revocations,
// POST /api/revocations/{seq}/purge.
import { useState } from 'preact/hooks';
import { ApiError, Me, Release, Revocation, get, post } from '../api';
import { Badge, Confirm, Empty, ErrorBox, Show, Time, ago, short, useLoad } from '../ui';

const CONFIRM_WORD = 'REVOKE';

interface RevocationList {
  seq: number;
  revocations: Revocation[];
}

function PurgeStatus({ r, me, reload }: { r: Revocation; me: Me; reload: () => Promise<void> }) {
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const p = r.purge;
  const kind = p.status === 'succeeded' ? 'pass' : p.status === 'failed' ? 'fail' : p.status === 'pending' ? 'pending' : 'neutral';
  const retry = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await post(`/api/revocations/${r.seq}/purge`);
      await reload();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="purge" data-testid={`purge-${r.seq}`}>
      <Badge kind={kind}>purge {p.status}</Badge>{' '}
      <span class="small muted">
        {p.attempts} attempt{p.attempts === 1 ? '' : 's'}
        {p.done_at ? <> · done <Time at={p.done_at} /></> : null}
        {p.next_attempt_at && p.status === 'pending' ? <> · next try <Time at={p.next_attempt_at} /></> : null}
      </span>
      {p.status === 'not-configured' && (
        <div class="small muted">No Cloudflare zone or API token on this edge: only the local cache was cleared.</div>
      )}
      {p.last_error && <div class="small error-text">last error: {p.last_error}</div>}
      {me.may.purge && (p.status === 'failed' || p.status === 'pending') && (
        <button type="button" disabled={busy} onClick={retry}>
          Retry purge now
        </button>
      )}
      <details>
        <summary class="small">{p.urls.length} URLs, {p.tags.length} cache tags</summary>
        <ul class="small mono">
          {p.urls.map((u) => (
            <li>{u}</li>
          ))}
          {p.tags.map((t) => (
            <li>tag: {t}</li>
          ))}
        </ul>
      </details>
      <ErrorBox error={error} />
    </div>
  );
}

function RevokeForm({ releases, onDone }: { releases: Release[]; onDone: () => Promise<void> }) {
  const [reason, setReason] = useState('');
  const [ids, setIds] = useState<string[]>([]);
  const [shas, setShas] = useState('');
  const [floorProduct, setFloorProduct] = useState('');
  const [floor, setFloor] = useState('');
  const [replacement, setReplacement] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [problem, setProblem] = useState<string>();
  const [result, setResult] = useState<any>();

  const shaList = shas.split(/[\s,]+/).filter(Boolean);
  const body: any = { reason: reason.trim() };
  if (ids.length) body.release_ids = ids;
  if (shaList.length) body.sha256 = shaList;
  if (floorProduct.trim() && floor.trim()) body.min_security_version = { [floorProduct.trim()]: Number(floor) };
  if (replacement) body.replacement_release_id = replacement;

  const check = (): string | undefined => {
    if (!body.reason) return 'Give a reason (it is in the signed list and the audit log).';
    if (body.reason.length > 500) return 'The reason has at most 500 characters.';
    if (!ids.length && !shaList.length && !body.min_security_version) return 'Choose releases, artifacts or a security floor to revoke.';
    if (shaList.some((s) => !/^[0-9a-f]{64}$/.test(s))) return 'Artifact digests are 64 lowercase hex characters.';
    if (floorProduct.trim() && !/^\d+$/.test(floor.trim())) return 'The security floor is a whole number.';
    if (replacement && ids.includes(replacement)) return 'The replacement cannot be a release being revoked.';
    return undefined;
  };

  const approved = releases.filter((r) => r.status === 'approved' && !ids.includes(r.id));
  return (
    <form
      class="card danger-zone"
      aria-labelledby="revoke-title"
      onSubmit={(e) => {
        e.preventDefault();
        const p = check();
        setProblem(p);
        if (!p) setConfirming(true);
      }}
    >
      <h2 id="revoke-title">Emergency revocation</h2>
      <p class="small muted">
        Devices refuse a revoked image at their next check (the signed list's sequence is in every answer), its downloads answer 410, campaigns of it
        halt, and the CDN copies are purged. A replacement release is offered to the devices running the revoked image.
      </p>
      <label class="field">
        <span>Reason</span>
        <input name="reason" value={reason} maxLength={500} onInput={(e) => setReason((e.target as HTMLInputElement).value)} placeholder="CVE-2026-1234: bootloop on rev B boards" />
      </label>
      <fieldset>
        <legend>Releases to revoke</legend>
        {releases.length === 0 ? (
          <span class="muted small">No releases.</span>
        ) : (
          <div class="checklist">
            {[...releases].reverse().map((r) => (
              <label class="check">
                <input
                  type="checkbox"
                  name={`revoke-${r.id}`}
                  checked={ids.includes(r.id)}
                  onChange={() => setIds(ids.includes(r.id) ? ids.filter((x) => x !== r.id) : [...ids, r.id])}
                />{' '}
                {r.product} {r.version} <span class="mono small muted">{r.id}</span>
              </label>
            ))}
          </div>
        )}
      </fieldset>
      <div class="row">
        <label class="field">
          <span>Artifacts by SHA-256</span>
          <textarea name="sha256" rows={2} value={shas} onInput={(e) => setShas((e.target as HTMLTextAreaElement).value.trim())} />
          <small class="muted">optional, one per line</small>
        </label>
        <label class="field">
          <span>Raise security floor: product</span>
          <input name="floor_product" value={floorProduct} onInput={(e) => setFloorProduct((e.target as HTMLInputElement).value)} placeholder="acme-thermostat" />
        </label>
        <label class="field">
          <span>to security version</span>
          <input name="floor" inputMode="numeric" value={floor} onInput={(e) => setFloor((e.target as HTMLInputElement).value)} />
        </label>
      </div>
      <label class="field">
        <span>Fix forward to (optional)</span>
        <select name="replacement" value={replacement} onChange={(e) => setReplacement((e.target as HTMLSelectElement).value)}>
          <option value="">No replacement</option>
          {approved.map((r) => (
            <option value={r.id}>
              {r.product} {r.version} ({r.id})
            </option>
          ))}
        </select>
      </label>
      {problem && (
        <div class="error" role="alert">
          {problem}
        </div>
      )}
      <button type="submit" class="danger">
        Revoke…
      </button>
      {result && (
        <p class="notice" role="status" data-testid="revoke-result">
          Revocation list seq {result.seq} signed.
          {result.halted_campaigns?.length ? ` Halted: ${result.halted_campaigns.join(', ')}.` : ''}
          {result.fix_forward_campaign_id ? ` Fix-forward campaign ${result.fix_forward_campaign_id}.` : ''}
        </p>
      )}
      {confirming && (
        <Confirm
          title="Revoke now?"
          typed={CONFIRM_WORD}
          danger
          confirmLabel="Revoke"
          onClose={() => setConfirming(false)}
          onConfirm={async () => {
            const res = await post<any>('/api/revocations', body);
            setResult(res);
            setIds([]);
            setShas('');
            setReason('');
            setReplacement('');
            await onDone();
          }}
        >
          <p>
            This signs a new revocation list for every device{ids.length ? ` revoking ${ids.length} release${ids.length === 1 ? '' : 's'}` : ''}
            {shaList.length ? ` and ${shaList.length} artifact${shaList.length === 1 ? '' : 's'}` : ''}
            {body.min_security_version ? ` and raising ${floorProduct}'s security floor to ${floor}` : ''}. It cannot be undone.
          </p>
          <p class="small">Reason: {body.reason}</p>
        </Confirm>
      )}
    </form>
  );
}

export function RevocationsView({ me }: { me: Me }) {
  const list = useLoad<RevocationList | null>(
    () =>
      get<RevocationList>('/api/revocations').catch((e) => {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }),
    [],
    5_000,
  );
  const releases = useLoad(() => get<Release[]>('/api/releases'), []);
  return (
    <>
      <div class="page-head">
        <h1>Revocation</h1>
      </div>
      <Show load={list}>
        {(l) =>
          l === null ? (
            <Empty>This edge does not offer emergency revocation yet (no /api/revocations).</Empty>
          ) : (
            <>
              {me.may.revoke_release && <Show load={releases}>{(rs) => <RevokeForm releases={rs} onDone={list.reload} />}</Show>}
              <section class="card" aria-labelledby="revocations-title">
                <h2 id="revocations-title">
                  Revocations <span class="muted small">(list seq {l.seq})</span>
                </h2>
                {l.revocations.length === 0 ? (
                  <Empty>Nothing has been revoked. Devices hold the empty list (seq 0).</Empty>
                ) : (
                  <ol class="revocations" data-testid="revocations">
                    {l.revocations.map((r) => (
                      <li class="card inner">
                        <div class="card-head">
                          <strong>
                            #{r.seq} · {r.reason}
                          </strong>
                          <span class="small muted">
                            <Time at={r.created_at} /> ({ago(r.created_at)}) by {r.created_by}
                          </span>
                        </div>
                        <ul class="small">
                          {r.release_ids.map((id) => (
                            <li>
                              release <span class="mono">{id}</span>
                            </li>
                          ))}
                          {r.sha256.map((s) => (
                            <li>
                              artifact <span class="mono" title={s}>{short(s, 16)}</span>
                            </li>
                          ))}
                          {Object.entries(r.min_security_version ?? {}).map(([p, n]) => (
                            <li>
                              {p}: security floor raised to {n}
                            </li>
                          ))}
                          {r.halted_campaigns.map((c) => (
                            <li>
                              halted <a href={`#/campaigns/${c}`}>{c}</a>
                            </li>
                          ))}
                          {r.fix_forward_campaign_id && (
                            <li>
                              fix forward to {r.replacement_release_id}: <a href={`#/campaigns/${r.fix_forward_campaign_id}`}>{r.fix_forward_campaign_id}</a>
                            </li>
                          )}
                        </ul>
                        <PurgeStatus r={r} me={me} reload={list.reload} />
                      </li>
                    ))}
                  </ol>
                )}
              </section>
            </>
          )
        }
      </Show>
    </>
  );
}
