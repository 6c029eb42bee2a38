import { useEffect, useRef, useState } from 'preact/hooks';
import { CampaignStatus, CampaignSummary, HistoryEntry, Me, SeriesPoint, WaveView, get, post } from '../api';
import { CampaignChart, ChartPoint } from '../chart';
import { Badge, Confirm, Empty, ErrorBox, Show, Time, duration, pct, useLoad } from '../ui';
import { stateText } from './campaigns';

const LIVE_MS = 3_000;

type Verb = 'approve' | 'start' | 'pause' | 'resume' | 'advance' | 'cancel' | 'rollback';

/** What each state allows (core/src/rollout/state.rs `transition`); the API decides anyway (409). */
/** A token id as the person's name, from the campaign's own audit history (the id when unknown). */
function nameOf(history: HistoryEntry[], id: string): string {
  return history.find((h) => h.actor === id && h.actor_name)?.actor_name ?? id;
}

function verbsFor(c: CampaignSummary): Verb[] {
  switch (c.state.state) {
    case 'draft':
      return ['approve', 'cancel'];
    case 'approved':
      return ['start', 'cancel'];
    case 'running':
      return ['pause', 'advance', 'cancel', 'rollback'];
    case 'paused':
      return ['resume', 'cancel', 'rollback'];
    case 'halted':
      return c.state.rollback ? ['cancel'] : ['cancel', 'rollback'];
    case 'completed':
      return ['rollback'];
    default:
      return [];
  }
}

const CONFIRM: Partial<Record<Verb, { title: string; text: string; typed: boolean; label: string }>> = {
  pause: { title: 'Pause the campaign?', text: 'No new updates start until it is resumed; updates in flight finish.', typed: false, label: 'Pause' },
  advance: {
    title: 'Advance to the next wave now?',
    text: 'The next wave starts without waiting for the soak time or the gate.',
    typed: false,
    label: 'Advance',
  },
  cancel: { title: 'Cancel the campaign?', text: 'No device is offered this campaign again. This cannot be undone.', typed: true, label: 'Cancel campaign' },
  rollback: {
    label: 'Roll back',
    title: 'Roll the campaign back?',
    text: 'The campaign halts and every device that took the release through it is ordered back to the image it ran before. This cannot be undone.',
    typed: true,
  },
};

function Verdict({ w }: { w: WaveView }) {
  const v = w.verdict;
  if (v.verdict === 'pass') return <Badge kind="pass">gate passed</Badge>;
  if (v.verdict === 'fail') return <Badge kind="fail" >gate failed{v.reason?.detail ? `: ${v.reason.detail}` : ''}</Badge>;
  const r = v.reason;
  if (r?.kind === 'too-few-finished') return <Badge kind="pending">waiting: {r.finished} of {r.needed} finished</Badge>;
  return <Badge kind="pending">pending</Badge>;
}

/** The wave's Wilson upper bound against its gate's threshold, as a meter. */
function BoundMeter({ w }: { w: WaveView }) {
  const finished = w.counters.succeeded + w.counters.failed + w.counters.rolled_back + w.counters.expired;
  const over = finished > 0 && w.failure_rate_upper_bound > w.gate_max_failure_rate;
  return (
    <div class="meter" title={`upper bound ${pct(w.failure_rate_upper_bound)} vs gate ${pct(w.gate_max_failure_rate)}`}>
      <div class="meter-track">
        <span class={`meter-fill ${over ? 'over' : ''}`} style={{ width: `${finished ? w.failure_rate_upper_bound * 100 : 0}%` }} />
        <span class="meter-threshold" style={{ left: `${w.gate_max_failure_rate * 100}%` }} />
      </div>
      <span class="small">
        bound {finished ? pct(w.failure_rate_upper_bound) : '—'} / gate {pct(w.gate_max_failure_rate)}
      </span>
    </div>
  );
}

function cumulative(series: SeriesPoint[]): ChartPoint[] {
  let succeeded = 0;
  let failures = 0;
  let started = 0;
  return [...series]
    .sort((a, b) => a.minute - b.minute)
    .map((p) => {
      succeeded += p.succeeded;
      failures += p.failed + p.rolled_back + p.expired;
      started += p.started;
      return { at: p.at + 60, succeeded, failures, started };
    });
}

function totals(st: CampaignStatus, at: number): ChartPoint {
  let succeeded = 0;
  let failures = 0;
  let started = 0;
  for (const w of st.waves) {
    succeeded += w.counters.succeeded;
    failures += w.counters.failed + w.counters.rolled_back + w.counters.expired;
    started += w.counters.started;
  }
  return { at, succeeded, failures, started };
}

export function CampaignView({ id, me }: { id: string; me: Me }) {
  const [live, setLive] = useState(true);
  const status = useLoad(() => get<CampaignStatus>(`/api/campaigns/${encodeURIComponent(id)}`), [id], live ? LIVE_MS : 30_000);
  const series = useLoad(() => get<{ series: SeriesPoint[] }>(`/api/campaigns/${encodeURIComponent(id)}/series`), [id], live ? LIVE_MS * 2 : 60_000);
  // Samples taken at each poll while the page is open: finer than the per-minute series.
  const samples = useRef<ChartPoint[]>([]);
  const [points, setPoints] = useState<ChartPoint[]>([]);
  const [confirm, setConfirm] = useState<Verb>();
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);

  const st = status.data;
  const state = st?.campaign.state.state;
  useEffect(() => {
    if (state && !['running', 'paused', 'approved', 'draft'].includes(state)) setLive(false);
  }, [state]);

  useEffect(() => {
    if (!st) return;
    const now = Math.floor((status.updatedAt ?? Date.now()) / 1000);
    const s = samples.current;
    const t = totals(st, now);
    if (!s.length || s[s.length - 1].at < now) s.push(t);
    const hist = cumulative(series.data?.series ?? []);
    const firstLive = s[0]?.at ?? Infinity;
    const merged = [...hist.filter((p) => p.at < firstLive), ...s];
    if (merged.length === 1) merged.unshift({ at: merged[0].at - 60, succeeded: 0, failures: 0, started: 0 });
    setPoints(merged);
  }, [status.updatedAt, series.updatedAt]);

  const act = async (verb: Verb) => {
    setBusy(true);
    setError(undefined);
    try {
      await post(`/api/campaigns/${encodeURIComponent(id)}/${verb}`);
      await status.reload();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };

  const allowed = (verb: Verb, c: CampaignSummary) => {
    if (verb === 'approve') return !!me.may.approve_campaign && c.created_by !== me.id;
    return !!me.may.operate_campaign;
  };

  return (
    <>
      <div class="page-head">
        <h1>{st ? st.campaign.name : 'Campaign'}</h1>
        <a href="#/campaigns">← Campaigns</a>
      </div>
      <Show load={status}>
        {(st) => {
          const c = st.campaign;
          const verbs = verbsFor(c).filter((v) => allowed(v, c));
          const current = st.waves[c.wave ?? (c.state.state === 'completed' ? st.waves.length - 1 : 0)] ?? st.waves[0];
          const z = st.spec?.waves?.[current?.index ?? 0]?.gate?.confidence_z ?? 1.96;
          return (
            <>
              <section class="card">
                <div class="card-head">
                  <div>
                    <Badge kind={c.state.state}>
                      <span data-testid="campaign-state">{stateText(c)}</span>
                    </Badge>{' '}
                    <span class="mono small muted">{c.id}</span>
                  </div>
                  <label class="toggle small">
                    <input type="checkbox" checked={live} onChange={(e) => setLive((e.target as HTMLInputElement).checked)} /> live (every {LIVE_MS / 1000} s)
                  </label>
                </div>
                <dl class="facts">
                  <dt>Release</dt>
                  <dd>
                    {c.product} {st.adoption.release_version} <span class="mono small muted">{c.release_id}</span>
                  </dd>
                  <dt>Adoption</dt>
                  <dd data-testid="adoption">
                    {st.adoption.on_release} of {st.adoption.devices} devices ({st.adoption.percent.toFixed(1)} %)
                  </dd>
                  <dt>Pace</dt>
                  <dd>{c.pace_per_minute} starts/min</dd>
                  <dt>Waiting</dt>
                  <dd>{waitingText(st.waiting)}</dd>
                  <dt>Mean time to recovery</dt>
                  <dd>{duration(st.campaign_mttr_s)}</dd>
                  <dt>Created</dt>
                  <dd>
                    <Time at={c.created_at} /> by {c.created_by === me.id ? 'you' : nameOf(st.history, c.created_by)}
                  </dd>
                  <dt>Approved</dt>
                  <dd>{c.approved_at ? <><Time at={c.approved_at} /> by {c.approved_by === me.id ? 'you' : nameOf(st.history, c.approved_by ?? "")}</> : '—'}</dd>
                </dl>
                {verbs.length > 0 && (
                  <div class="actions" role="group" aria-label="Campaign actions">
                    {verbs.map((v) => (
                      <button
                        type="button"
                        class={v === 'cancel' || v === 'rollback' ? 'danger' : v === 'approve' || v === 'start' || v === 'resume' ? 'primary' : ''}
                        disabled={busy}
                        onClick={() => (CONFIRM[v] ? setConfirm(v) : act(v))}
                      >
                        {v[0].toUpperCase() + v.slice(1)}
                        {CONFIRM[v] ? '…' : ''}
                      </button>
                    ))}
                  </div>
                )}
                {c.state.state === 'draft' && me.may.approve_campaign && c.created_by === me.id && (
                  <p class="small muted">You created this campaign: another approver must approve it (two-person rule).</p>
                )}
                <ErrorBox error={error} />
              </section>
              {confirm && CONFIRM[confirm] && (
                <Confirm
                  title={CONFIRM[confirm]!.title}
                  typed={CONFIRM[confirm]!.typed ? c.id : undefined}
                  danger={confirm === 'cancel' || confirm === 'rollback'}
                  confirmLabel={CONFIRM[confirm]!.label}
                  onClose={() => setConfirm(undefined)}
                  onConfirm={async () => {
                    await post(`/api/campaigns/${encodeURIComponent(id)}/${confirm}`);
                    await status.reload();
                  }}
                >
                  <p>{CONFIRM[confirm]!.text}</p>
                </Confirm>
              )}
              <section class="card" aria-labelledby="waves-title">
                <h2 id="waves-title">Waves</h2>
                <div class="table-wrap">
                  <table class="data waves" data-testid="waves">
                    <thead>
                      <tr>
                        <th scope="col">Wave</th>
                        <th scope="col">Offered</th>
                        <th scope="col">In flight</th>
                        <th scope="col">Succeeded</th>
                        <th scope="col">Failed</th>
                        <th scope="col">Failure rate</th>
                        <th scope="col">Gate</th>
                      </tr>
                    </thead>
                    <tbody>
                      {st.waves.map((w) => {
                        const isCurrent = c.wave === w.index && ['running', 'paused', 'halted'].includes(c.state.state);
                        return (
                          <tr class={isCurrent ? 'current' : ''} aria-current={isCurrent ? 'step' : undefined}>
                            <th scope="row">
                              {w.index + 1}. {w.name}
                              <div class="small muted">
                                {w.percent} % · soak {w.min_soak_minutes} min
                              </div>
                            </th>
                            <td class="num">{w.counters.offered}</td>
                            <td class="num">{w.counters.in_flight}</td>
                            <td class="num">{w.counters.succeeded}</td>
                            <td class="num">{w.counters.failed + w.counters.rolled_back + w.counters.expired}</td>
                            <td>
                              {pct(w.failure_rate)}
                              <BoundMeter w={w} />
                            </td>
                            <td>
                              <Verdict w={w} />
                              <div class="small muted">
                                ≥ {w.gate_min_finished} finished, bound ≤ {pct(w.gate_max_failure_rate)}
                              </div>
                            </td>
                          </tr>
                        );
                      })}
                    </tbody>
                  </table>
                </div>
              </section>
              <section class="card" aria-labelledby="chart-title">
                <h2 id="chart-title">Adoption and failure rate</h2>
                <ErrorBox error={series.error} />
                {points.length > 0 && current ? (
                  <CampaignChart
                    points={points}
                    threshold={current.gate_max_failure_rate}
                    z={z}
                    label={`gate of wave ${current.index + 1} (${current.name}): bound ≤ ${pct(current.gate_max_failure_rate)}`}
                  />
                ) : (
                  <Empty>No activity yet.</Empty>
                )}
              </section>
              <section class="card" aria-labelledby="history-title">
                <h2 id="history-title">History</h2>
                {st.history.length === 0 ? (
                  <Empty>No history.</Empty>
                ) : (
                  <ol class="timeline" data-testid="history">
                    {[...st.history].reverse().map((h) => (
                      <li>
                        <Time at={h.at} /> · <strong>{h.action}</strong> by <span title={h.actor}>{h.actor_name ?? h.actor}</span>
                        {h.details?.change?.reason ? <div class="small">{h.details.change.reason}</div> : null}
                      </li>
                    ))}
                  </ol>
                )}
              </section>
            </>
          );
        }}
      </Show>
    </>
  );
}

function waitingText(w: any): string {
  if (!w) return '—';
  if (w.kind === 'soak') return `soaking until ${new Date(w.until * 1000).toLocaleString()}`;
  if (w.kind === 'gate') return w.gate?.kind === 'too-few-finished' ? `gate: ${w.gate.finished} of ${w.gate.needed} finished` : 'gate pending';
  if (w.kind === 'operator') return 'an operator to advance';
  return String(w.kind ?? '—');
}
