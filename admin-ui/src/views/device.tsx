import { useState } from 'preact/hooks';
import { Device, Me, Report, get, post } from '../api';
import { Badge, Confirm, Empty, Show, Time, short, useLoad } from '../ui';

interface ReportsPage {
  reports: Report[];
  next_after_seq: number | null;
}

/** Every report of a device, oldest first (pages of 500). */
async function allReports(id: string): Promise<Report[]> {
  const out: Report[] = [];
  let after = 0;
  for (let i = 0; i < 20; i++) {
    const page = await get<ReportsPage>(`/api/devices/${encodeURIComponent(id)}/reports?after_seq=${after}&limit=500`);
    out.push(...page.reports);
    if (page.next_after_seq === null) break;
    after = page.next_after_seq;
  }
  return out;
}

function eventText(r: Report): string {
  const e = r.event;
  if (e.state === 'health') return `health: up ${e.uptime_s ?? 0} s, ${e.reboots ?? 0} reboots, ${e.crashes ?? 0} crashes`;
  return e.code ? `${e.state} (${e.code})` : e.state;
}

export function DeviceView({ id, me }: { id: string; me: Me }) {
  const device = useLoad(() => get<Device>(`/api/devices/${encodeURIComponent(id)}`), [id], 10_000);
  const reports = useLoad(() => allReports(id), [id], 10_000);
  const [revoking, setRevoking] = useState(false);

  return (
    <>
      <div class="page-head">
        <h1>
          Device <span class="mono">{id}</span>
        </h1>
        <a href="#/fleet">← Fleet</a>
      </div>
      <Show load={device}>
        {(d) => (
          <section class="card">
            <dl class="facts">
              <dt>Status</dt>
              <dd>
                <Badge kind={d.status}>{d.status}</Badge>
              </dd>
              <dt>Product</dt>
              <dd>{d.product}</dd>
              <dt>Hardware</dt>
              <dd>{d.hardware_id}</dd>
              <dt>Serial</dt>
              <dd>{d.serial}</dd>
              <dt>Running</dt>
              <dd>
                {d.running_version ?? 'unknown'}
                {d.running_security_version !== null ? ` (security version ${d.running_security_version})` : ''}
              </dd>
              <dt>Location</dt>
              <dd>
                {[d.us_state, d.country, d.region].filter(Boolean).join(' · ')}
                {d.timezone ? ` (${d.timezone})` : ''}
              </dd>
              <dt>Enrolled</dt>
              <dd>
                <Time at={d.enrolled_at} />
              </dd>
              <dt>Last report</dt>
              <dd>
                <Time at={d.last_report_received_at} /> {d.last_state ? `(${d.last_state})` : ''}
              </dd>
              {d.revoked_at && (
                <>
                  <dt>Revoked</dt>
                  <dd>
                    <Time at={d.revoked_at} />
                  </dd>
                </>
              )}
            </dl>
            {me.may.revoke_device && !d.revoked_at && (
              <div class="actions">
                <button type="button" class="danger" onClick={() => setRevoking(true)}>
                  Revoke device…
                </button>
              </div>
            )}
            {revoking && (
              <Confirm
                title={`Revoke ${d.id}?`}
                typed={d.id}
                danger
                confirmLabel="Revoke device"
                onClose={() => setRevoking(false)}
                onConfirm={async () => {
                  await post(`/api/devices/${encodeURIComponent(d.id)}/revoke`);
                  await device.reload();
                }}
              >
                <p>Its certificate stops working at the edge at once; it cannot re-enroll with the same key. This cannot be undone.</p>
              </Confirm>
            )}
          </section>
        )}
      </Show>
      <section class="card" aria-labelledby="versions-title">
        <h2 id="versions-title">Versions</h2>
        <Show load={reports}>
          {(rs) => {
            const steps: { running: string; at: number }[] = [];
            for (const r of rs) if (!steps.length || steps[steps.length - 1].running !== r.running) steps.push({ running: r.running, at: r.at });
            return steps.length === 0 ? (
              <Empty>No reports yet: the device has not reported a version.</Empty>
            ) : (
              <ol class="timeline">
                {steps.map((s) => (
                  <li>
                    <strong>{s.running}</strong> since <Time at={s.at} />
                  </li>
                ))}
              </ol>
            );
          }}
        </Show>
      </section>
      <section class="card" aria-labelledby="reports-title">
        <h2 id="reports-title">Reports</h2>
        <Show load={reports}>
          {(rs) =>
            rs.length === 0 ? (
              <Empty>No reports yet.</Empty>
            ) : (
              <div class="table-wrap">
                <table class="data" data-testid="reports">
                  <thead>
                    <tr>
                      <th scope="col">#</th>
                      <th scope="col">At (device)</th>
                      <th scope="col">Event</th>
                      <th scope="col">Running</th>
                      <th scope="col">Image</th>
                      <th scope="col">Campaign</th>
                    </tr>
                  </thead>
                  <tbody>
                    {[...rs].reverse().map((r) => (
                      <tr>
                        <td class="num">{r.seq}</td>
                        <td>
                          <Time at={r.at} />
                        </td>
                        <td>{eventText(r)}</td>
                        <td>{r.running}</td>
                        <td class="mono" title={r.sha256}>
                          {r.sha256 ? short(r.sha256) : '—'}
                        </td>
                        <td>{r.campaign_id ? <a href={`#/campaigns/${r.campaign_id}`}>{r.campaign_id}</a> : '—'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )
          }
        </Show>
      </section>
    </>
  );
}
