import { CampaignSummary, Me, get } from '../api';
import { Badge, Empty, Show, Time, useLoad } from '../ui';

export function stateText(c: CampaignSummary): string {
  const s = c.state;
  if (s.state === 'running' || s.state === 'paused') return `${s.state} · wave ${(s.wave ?? 0) + 1}${c.wave_name ? ` (${c.wave_name})` : ''}`;
  if (s.state === 'halted') return `halted in wave ${(s.wave ?? 0) + 1}${s.rollback ? ' · rollback ordered' : ''}`;
  return s.state;
}

export function CampaignsView({ me }: { me: Me }) {
  const list = useLoad(() => get<CampaignSummary[]>('/api/campaigns'), [], 5_000);
  return (
    <>
      <div class="page-head">
        <h1>Campaigns</h1>
        {me.may.create_campaign && (
          <a class="button primary" href="#/campaigns/new">
            New campaign
          </a>
        )}
      </div>
      <section class="card">
        <Show load={list}>
          {(cs) =>
            cs.length === 0 ? (
              <Empty>No campaigns yet. An operator creates one for an approved release{me.may.create_campaign ? ': “New campaign” above' : ''}.</Empty>
            ) : (
              <div class="table-wrap">
                <table class="data" data-testid="campaigns">
                  <thead>
                    <tr>
                      <th scope="col">Campaign</th>
                      <th scope="col">State</th>
                      <th scope="col">Release</th>
                      <th scope="col">Pace</th>
                      <th scope="col">Created</th>
                      <th scope="col">Updated</th>
                    </tr>
                  </thead>
                  <tbody>
                    {[...cs].sort((a, b) => b.created_at - a.created_at).map((c) => (
                      <tr>
                        <td>
                          <a href={`#/campaigns/${c.id}`}>
                            <strong>{c.name}</strong>
                          </a>
                          <div class="mono small muted">{c.id}</div>
                        </td>
                        <td>
                          <Badge kind={c.state.state}>{stateText(c)}</Badge>
                        </td>
                        <td>
                          {c.product} <span class="mono small muted">{c.release_id}</span>
                        </td>
                        <td class="num">{c.pace_per_minute}/min</td>
                        <td>
                          <Time at={c.created_at} />
                        </td>
                        <td>
                          <Time at={c.updated_at} />
                        </td>
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
