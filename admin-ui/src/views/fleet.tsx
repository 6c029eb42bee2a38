import { useState } from 'preact/hooks';
import { DevicePage, Fleet, get } from '../api';
import { Badge, Empty, Show, Time, ago, useLoad } from '../ui';

const REGIONS: Record<string, string> = {
  west: 'West',
  mountain: 'Mountain',
  central: 'Central',
  east: 'East',
  territories: 'Territories',
  'outside-us': 'Outside the U.S.',
  unknown: 'Unknown',
};

function groupBy(fleet: Fleet, key: (r: Fleet['by'][number]) => string): [string, number][] {
  const m = new Map<string, number>();
  for (const r of fleet.by) m.set(key(r), (m.get(key(r)) ?? 0) + r.devices);
  return [...m.entries()].sort((a, b) => b[1] - a[1]);
}

function Breakdown({ title, rows, total, label = (k: string) => k }: { title: string; rows: [string, number][]; total: number; label?: (k: string) => string }) {
  return (
    <section class="card" aria-labelledby={`bd-${title}`}>
      <h2 id={`bd-${title}`}>{title}</h2>
      {rows.length === 0 ? (
        <Empty>No devices yet.</Empty>
      ) : (
        <table class="bars">
          <tbody>
            {rows.map(([k, n]) => (
              <tr>
                <th scope="row">{label(k)}</th>
                <td class="bar-cell">
                  <span class="bar" style={{ width: `${total ? (n / total) * 100 : 0}%` }} />
                </td>
                <td class="num">{n}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function FleetView() {
  const fleet = useLoad(() => get<Fleet>('/api/fleet'), [], 10_000);
  const [filter, setFilter] = useState({ version: '', hardware_id: '' });
  const [after, setAfter] = useState<string[]>([]);
  const query = new URLSearchParams({ limit: '20' });
  if (filter.version) query.set('version', filter.version);
  if (filter.hardware_id) query.set('hardware_id', filter.hardware_id);
  if (after.length) query.set('after_id', after[after.length - 1]);
  const devices = useLoad(() => get<DevicePage>(`/api/devices?${query}`), [query.toString()], 10_000);

  return (
    <>
      <div class="page-head">
        <h1>Fleet</h1>
        <span class="muted live" aria-live="off">
          live · every 10 s
        </span>
      </div>
      <Show load={devices}>
        {(d) => (
          <div class="stats" role="list" aria-label="Devices by liveness">
            <div role="listitem" class="stat">
              <span class="stat-n" data-testid="count-total">{d.counts.total}</span>
              <span>devices</span>
            </div>
            <div role="listitem" class="stat ok">
              <span class="stat-n" data-testid="count-online">{d.counts.online}</span>
              <span>online</span>
            </div>
            <div role="listitem" class="stat warn">
              <span class="stat-n" data-testid="count-stale">{d.counts.stale}</span>
              <span>stale</span>
            </div>
            <div role="listitem" class="stat">
              <span class="stat-n">{d.counts.never_reported}</span>
              <span>never reported</span>
            </div>
            <div role="listitem" class="stat">
              <span class="stat-n">{d.counts.revoked}</span>
              <span>revoked</span>
            </div>
            <p class="muted small">Online: a report received in the last {Math.round(d.online_window_s / 3600)} h (agents send a health sample hourly).</p>
          </div>
        )}
      </Show>
      <Show load={fleet}>
        {(f) => (
          <div class="grid3">
            <Breakdown title="By version" rows={groupBy(f, (r) => `${r.product} ${r.running_version}`)} total={f.devices} />
            <Breakdown title="By hardware" rows={groupBy(f, (r) => r.hardware_id)} total={f.devices} />
            <Breakdown title="By U.S. region" rows={groupBy(f, (r) => r.region)} total={f.devices} label={(k) => REGIONS[k] ?? k} />
          </div>
        )}
      </Show>
      <section class="card" aria-labelledby="devices-title">
        <div class="card-head">
          <h2 id="devices-title">Devices</h2>
          <form class="inline" onSubmit={(e) => e.preventDefault()} role="search">
            <label class="field compact">
              <span>Version</span>
              <input
                name="version"
                value={filter.version}
                placeholder="any"
                onChange={(e) => {
                  setAfter([]);
                  setFilter({ ...filter, version: (e.target as HTMLInputElement).value.trim() });
                }}
              />
            </label>
            <label class="field compact">
              <span>Hardware</span>
              <input
                name="hardware_id"
                value={filter.hardware_id}
                placeholder="any"
                onChange={(e) => {
                  setAfter([]);
                  setFilter({ ...filter, hardware_id: (e.target as HTMLInputElement).value.trim() });
                }}
              />
            </label>
          </form>
        </div>
        <Show load={devices}>
          {(d) =>
            d.devices.length === 0 ? (
              <Empty>
                No devices{filter.version || filter.hardware_id ? ' match these filters' : ' have enrolled yet'}. Devices enroll with an enrollment
                token (<code>updraft enroll-tokens create</code>).
              </Empty>
            ) : (
              <>
                <div class="table-wrap">
                  <table class="data" data-testid="devices">
                    <thead>
                      <tr>
                        <th scope="col">Device</th>
                        <th scope="col">Status</th>
                        <th scope="col">Version</th>
                        <th scope="col">Hardware</th>
                        <th scope="col">Region</th>
                        <th scope="col">Last report</th>
                      </tr>
                    </thead>
                    <tbody>
                      {d.devices.map((dev) => (
                        <tr>
                          <td>
                            <a href={`#/devices/${dev.id}`} class="mono">
                              {dev.id}
                            </a>
                            <div class="muted small">{dev.serial}</div>
                          </td>
                          <td>
                            <Badge kind={dev.status}>{dev.status}</Badge>
                          </td>
                          <td>{dev.running_version ?? <span class="muted">unknown</span>}</td>
                          <td>{dev.hardware_id}</td>
                          <td>
                            {REGIONS[dev.region] ?? dev.region}
                            {dev.us_state ? ` · ${dev.us_state}` : ''}
                          </td>
                          <td>
                            {dev.last_report_received_at ? (
                              <>
                                {ago(dev.last_report_received_at, d.now)} <div class="small muted"><Time at={dev.last_report_received_at} /></div>
                              </>
                            ) : (
                              <span class="muted">never</span>
                            )}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
                <div class="pager">
                  <button type="button" disabled={after.length === 0} onClick={() => setAfter(after.slice(0, -1))}>
                    ← Previous
                  </button>
                  <button type="button" disabled={!d.next_after_id} onClick={() => d.next_after_id && setAfter([...after, d.next_after_id])}>
                    Next →
                  </button>
                </div>
              </>
            )
          }
        </Show>
      </section>
    </>
  );
}
