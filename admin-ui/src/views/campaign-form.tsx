// Create a campaign: a form over core's CampaignSpec (core/src/rollout/spec.rs),
// with the defaults of `updraft campaign template`, checked here field by
// field before sending; the edge validates again with core's parse_spec and
// its error names the field.
import { useState } from 'preact/hooks';
import { CampaignSummary, Me, Release, post, get } from '../api';
import { Empty, ErrorBox, Show, useLoad } from '../ui';

interface WaveForm {
  name: string;
  percent: string;
  min_soak_minutes: string;
  min_finished: string;
  max_failure_rate_pct: string;
  confidence_z: string;
  on_fail: 'halt' | 'halt_and_rollback';
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const REGIONS = ['west', 'mountain', 'central', 'east', 'territories'] as const;
const NETWORKS = ['wifi', 'ethernet', 'cellular', 'other'] as const;

const wave = (name: string, percent: number, soak: number, minFinished: number, maxPct: number, onFail: WaveForm['on_fail']): WaveForm => ({
  name,
  percent: String(percent),
  min_soak_minutes: String(soak),
  min_finished: String(minFinished),
  max_failure_rate_pct: String(maxPct),
  confidence_z: '1.96',
  on_fail: onFail,
});

/** `updraft campaign template`'s waves (cli/src/campaign_template.jsonc), staging added when device ids are given. */
const DEFAULT_WAVES: WaveForm[] = [
  wave('canary', 1, 1440, 200, 5, 'halt_and_rollback'),
  wave('early', 10, 1440, 500, 3, 'halt'),
  wave('half', 50, 1440, 1000, 2, 'halt'),
  wave('everyone', 100, 0, 1000, 2, 'halt'),
];
const STAGING_WAVE: WaveForm = { ...wave('staging', 0, 60, 3, 50, 'halt_and_rollback'), confidence_z: '1.0' };

const list = (s: string) =>
  s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);

interface Form {
  name: string;
  release_id: string;
  hardware_ids: string;
  current_version: string;
  tags_all: string;
  tags_any: string;
  regions: string[];
  us_states: string;
  countries: string;
  device_ids: string;
  waves: WaveForm[];
  auto_advance: boolean;
  windows_on: boolean;
  days: string[];
  start: string;
  end: string;
  unknown_zone: 'deny' | 'utc';
  urgency: 'normal' | 'critical';
  min_battery_percent: string;
  networks: string[];
  min_bootloader: string;
  max_starts_per_minute: string;
  max_in_flight: string;
  deadline_h: string;
  priority: string;
  salt: string;
}

const INITIAL: Form = {
  name: '',
  release_id: '',
  hardware_ids: '',
  current_version: '',
  tags_all: '',
  tags_any: '',
  regions: [],
  us_states: '',
  countries: '',
  device_ids: '',
  waves: DEFAULT_WAVES,
  auto_advance: true,
  windows_on: true,
  days: [...DAYS],
  start: '01:00',
  end: '05:00',
  unknown_zone: 'deny',
  urgency: 'normal',
  min_battery_percent: '30',
  networks: ['wifi', 'ethernet'],
  min_bootloader: '',
  max_starts_per_minute: '50',
  max_in_flight: '500',
  deadline_h: '3',
  priority: '0',
  salt: '',
};

type Errors = Record<string, string>;

const int = (s: string) => (/^\d+$/.test(s.trim()) ? Number(s) : NaN);
const num = (s: string) => (s.trim() === '' ? NaN : Number(s));

/** Builds the CampaignSpec and the errors, by field path (as core names them). */
export function buildSpec(f: Form): { spec: any; errors: Errors } {
  const errors: Errors = {};
  if (!f.name.trim()) errors.name = 'a name for people, 1 to 100 characters';
  else if (f.name.length > 100) errors.name = 'at most 100 characters';
  if (!f.release_id) errors.release_id = 'choose an approved release';
  const deviceIds = list(f.device_ids);
  for (const d of deviceIds) if (!/^dev-[0-9a-f]{20}$/.test(d)) errors['selector.device_ids'] = `${d} is not a device id (dev- and 20 hex digits)`;
  const waves = f.waves.map((w, i) => {
    const p = `waves[${i}]`;
    const percent = num(w.percent);
    const prev = i > 0 ? num(f.waves[i - 1].percent) : -1;
    if (!w.name.trim()) errors[`${p}.name`] = 'name the wave';
    if (!(percent >= 0 && percent <= 100) || Math.abs(Math.round(percent * 100) - percent * 100) > 1e-9) errors[`${p}.percent`] = '0 to 100, two decimals at most';
    else if (percent === 0 && i > 0) errors[`${p}.percent`] = 'only the first wave may be 0 % (the staging group)';
    else if (percent === 0 && deviceIds.length === 0) errors[`${p}.percent`] = 'a 0 % wave is the staging group: list its device ids';
    else if (i > 0 && percent <= prev) errors[`${p}.percent`] = 'percent is cumulative: more than the wave before';
    if (i === f.waves.length - 1 && percent !== 100) errors[`${p}.percent`] = 'the last wave reaches everyone: 100';
    const soak = int(w.min_soak_minutes);
    if (!(soak >= 0)) errors[`${p}.min_soak_minutes`] = 'whole minutes, 0 or more';
    const minFinished = int(w.min_finished);
    if (!(minFinished >= 1)) errors[`${p}.gate.min_finished`] = 'at least 1';
    const maxRate = num(w.max_failure_rate_pct) / 100;
    if (!(maxRate > 0 && maxRate < 1)) errors[`${p}.gate.max_failure_rate`] = 'a percentage above 0 and below 100';
    const z = num(w.confidence_z);
    if (!(z > 0 && z <= 5)) errors[`${p}.gate.confidence_z`] = 'between 0 and 5 (1.96 ≈ 95 %)';
    return {
      name: w.name.trim(),
      percent,
      min_soak_minutes: soak,
      gate: { min_finished: minFinished, max_failure_rate: maxRate, confidence_z: z, on_fail: w.on_fail },
    };
  });
  if (waves.length === 0) errors.waves = 'at least one wave';
  const selector: any = {};
  if (list(f.hardware_ids).length) selector.hardware_ids = list(f.hardware_ids);
  if (f.current_version.trim()) selector.current_version = f.current_version.trim();
  if (list(f.tags_all).length) selector.tags_all = list(f.tags_all);
  if (list(f.tags_any).length) selector.tags_any = list(f.tags_any);
  if (f.regions.length) selector.regions = f.regions;
  if (list(f.us_states).length) selector.us_states = list(f.us_states).map((s) => s.toUpperCase());
  if (list(f.countries).length) selector.countries = list(f.countries).map((s) => s.toUpperCase());
  if (deviceIds.length) selector.device_ids = deviceIds;
  const spec: any = {
    name: f.name.trim(),
    release_id: f.release_id,
    selector,
    waves,
    urgency: f.urgency,
    auto_advance: f.auto_advance,
    budgets: { max_starts_per_minute: int(f.max_starts_per_minute), max_in_flight: int(f.max_in_flight) },
    deadline_s: Math.round(num(f.deadline_h) * 3600),
    priority: Number(f.priority) || 0,
    salt: f.salt.trim(),
  };
  if (!(spec.budgets.max_starts_per_minute >= 1)) errors['budgets.max_starts_per_minute'] = 'at least 1';
  if (!(spec.budgets.max_in_flight >= 1)) errors['budgets.max_in_flight'] = 'at least 1';
  if (!(spec.deadline_s >= 60)) errors.deadline_s = 'at least a minute';
  if (f.windows_on) {
    if (f.days.length === 0) errors['windows.allowed[0].days'] = 'pick at least one day';
    if (!/^\d\d:\d\d$/.test(f.start)) errors['windows.allowed[0].start'] = 'HH:MM';
    if (!/^\d\d:\d\d$/.test(f.end)) errors['windows.allowed[0].end'] = 'HH:MM';
    spec.windows = { allowed: [{ days: DAYS.filter((d) => f.days.includes(d)), start: f.start, end: f.end }], unknown_zone: f.unknown_zone };
  }
  const eligibility: any = {};
  if (f.min_battery_percent.trim()) {
    const b = int(f.min_battery_percent);
    if (!(b >= 0 && b <= 100)) errors['eligibility.min_battery_percent'] = '0 to 100';
    eligibility.min_battery_percent = b;
  }
  if (f.networks.length) eligibility.networks = NETWORKS.filter((n) => f.networks.includes(n));
  if (f.min_bootloader.trim()) eligibility.min_bootloader = f.min_bootloader.trim();
  spec.eligibility = eligibility;
  if (spec.salt && (spec.salt.length < 16 || spec.salt.length > 128)) errors.salt = '16 to 128 printable characters, or empty for a fresh one';
  return { spec, errors };
}

function Field({ label, name, errors, hint, children }: { label: string; name: string; errors: Errors; hint?: string; children: any }) {
  const err = errors[name];
  return (
    <label class={`field ${err ? 'invalid' : ''}`}>
      <span>{label}</span>
      {children}
      {hint && !err && <small class="muted">{hint}</small>}
      {err && (
        <small class="field-error" id={`err-${name}`}>
          {err}
        </small>
      )}
    </label>
  );
}

export function CampaignForm({ me }: { me: Me }) {
  const releases = useLoad(() => get<Release[]>('/api/releases'), []);
  const [f, setF] = useState<Form>(INITIAL);
  const [touched, setTouched] = useState(false);
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const { spec, errors } = buildSpec(f);
  const shown = touched ? errors : {};

  const set = (patch: Partial<Form>) => setF({ ...f, ...patch });
  const input = (key: keyof Form) => (e: Event) => set({ [key]: (e.target as HTMLInputElement).value } as Partial<Form>);
  const setWave = (i: number, patch: Partial<WaveForm>) => set({ waves: f.waves.map((w, j) => (j === i ? { ...w, ...patch } : w)) });
  const toggle = (key: 'regions' | 'days' | 'networks', v: string) => set({ [key]: f[key].includes(v) ? f[key].filter((x) => x !== v) : [...f[key], v] } as Partial<Form>);

  if (!me.may.create_campaign) return <Empty>Your role ({me.role}) cannot create campaigns; an operator does.</Empty>;

  const submit = async (e: Event) => {
    e.preventDefault();
    setTouched(true);
    setError(undefined);
    if (Object.keys(errors).length) {
      (document.querySelector('.invalid input, .invalid select') as HTMLElement | null)?.focus();
      return;
    }
    setBusy(true);
    try {
      const created = await post<CampaignSummary>('/api/campaigns', spec);
      location.hash = `#/campaigns/${created.id}`;
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <div class="page-head">
        <h1>New campaign</h1>
        <a href="#/campaigns">← Campaigns</a>
      </div>
      <form class="campaign-form" onSubmit={submit} noValidate>
        <section class="card">
          <h2>Release</h2>
          <div class="row">
            <Field label="Name" name="name" errors={shown}>
              <input name="name" value={f.name} onInput={input('name')} maxLength={100} required />
            </Field>
            <Field label="Approved release" name="release_id" errors={shown}>
              <Show load={releases}>
                {(rs) => {
                  const approved = rs.filter((r) => r.status === 'approved');
                  return (
                    <select name="release_id" value={f.release_id} onChange={input('release_id')} required>
                      <option value="">{approved.length ? 'Choose…' : 'No approved release yet'}</option>
                      {[...approved].reverse().map((r) => (
                        <option value={r.id}>
                          {r.product} {r.version} ({r.id})
                        </option>
                      ))}
                    </select>
                  );
                }}
              </Show>
            </Field>
          </div>
        </section>

        <section class="card">
          <h2>Who</h2>
          <p class="muted small">Lists left empty are no constraint; the release's own hardware ids and security floor always apply.</p>
          <div class="row">
            <Field label="Hardware ids" name="selector.hardware_ids" errors={shown} hint="comma separated">
              <input name="hardware_ids" value={f.hardware_ids} onInput={input('hardware_ids')} placeholder="thermo-v2" />
            </Field>
            <Field label="Current version range" name="selector.current_version" errors={shown} hint="SemVer range">
              <input name="current_version" value={f.current_version} onInput={input('current_version')} placeholder=">=1.0.0, <1.4.0" />
            </Field>
            <Field label="Tags (all of)" name="selector.tags_all" errors={shown}>
              <input name="tags_all" value={f.tags_all} onInput={input('tags_all')} />
            </Field>
            <Field label="Tags (any of)" name="selector.tags_any" errors={shown}>
              <input name="tags_any" value={f.tags_any} onInput={input('tags_any')} />
            </Field>
          </div>
          <fieldset>
            <legend>U.S. regions (with states and countries: devices in any of them)</legend>
            {REGIONS.map((r) => (
              <label class="check">
                <input type="checkbox" name={`region-${r}`} checked={f.regions.includes(r)} onChange={() => toggle('regions', r)} /> {r}
              </label>
            ))}
          </fieldset>
          <div class="row">
            <Field label="U.S. states" name="selector.us_states" errors={shown} hint="e.g. CA, OR">
              <input name="us_states" value={f.us_states} onInput={input('us_states')} />
            </Field>
            <Field label="Countries" name="selector.countries" errors={shown} hint="e.g. US, CA">
              <input name="countries" value={f.countries} onInput={input('countries')} />
            </Field>
          </div>
          <Field label="Staging group: device ids" name="selector.device_ids" errors={shown} hint="they get the release in a first 0 % wave, whatever their cohort">
            <textarea name="device_ids" rows={2} value={f.device_ids} onInput={input('device_ids')} placeholder="dev-…" />
          </Field>
        </section>

        <section class="card">
          <div class="card-head">
            <h2>Waves</h2>
            <div class="actions">
              {f.waves[0]?.percent !== '0' && (
                <button type="button" onClick={() => set({ waves: [STAGING_WAVE, ...f.waves] })}>
                  Add staging wave
                </button>
              )}
              <button type="button" onClick={() => set({ waves: [...f.waves, wave(`wave ${f.waves.length + 1}`, 100, 0, 100, 2, 'halt')] })}>
                Add wave
              </button>
            </div>
          </div>
          <p class="muted small">
            Percent is cumulative. A gate judges once “min finished” updates finished, and fails when the Wilson upper bound of the failure rate (at z)
            is above the maximum. 0 failures of n pass a 5 % gate at z = 1.96 only from n = 73.
          </p>
          <ErrorBox error={shown.waves ? new Error(shown.waves) : undefined} />
          <div class="table-wrap">
            <table class="data wave-editor">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Percent</th>
                  <th scope="col">Soak (min)</th>
                  <th scope="col">Min finished</th>
                  <th scope="col">Max failure %</th>
                  <th scope="col">z</th>
                  <th scope="col">On failure</th>
                  <th scope="col">
                    <span class="sr-only">Remove</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {f.waves.map((w, i) => {
                  const p = `waves[${i}]`;
                  const cell = (key: keyof WaveForm, path: string, label: string, type = 'text') => (
                    <td class={shown[`${p}.${path}`] ? 'invalid' : ''}>
                      <input
                        name={`${p}.${key}`}
                        aria-label={`Wave ${i + 1} ${label}`}
                        aria-invalid={!!shown[`${p}.${path}`]}
                        inputMode={type === 'num' ? 'decimal' : undefined}
                        value={w[key] as string}
                        onInput={(e) => setWave(i, { [key]: (e.target as HTMLInputElement).value } as Partial<WaveForm>)}
                      />
                      {shown[`${p}.${path}`] && <small class="field-error">{shown[`${p}.${path}`]}</small>}
                    </td>
                  );
                  return (
                    <tr>
                      {cell('name', 'name', 'name')}
                      {cell('percent', 'percent', 'percent', 'num')}
                      {cell('min_soak_minutes', 'min_soak_minutes', 'soak minutes', 'num')}
                      {cell('min_finished', 'gate.min_finished', 'minimum finished', 'num')}
                      {cell('max_failure_rate_pct', 'gate.max_failure_rate', 'maximum failure percent', 'num')}
                      {cell('confidence_z', 'gate.confidence_z', 'confidence z', 'num')}
                      <td>
                        <select
                          name={`${p}.on_fail`}
                          aria-label={`Wave ${i + 1} on failure`}
                          value={w.on_fail}
                          onChange={(e) => setWave(i, { on_fail: (e.target as HTMLSelectElement).value as WaveForm['on_fail'] })}
                        >
                          <option value="halt_and_rollback">halt and roll back</option>
                          <option value="halt">halt</option>
                        </select>
                      </td>
                      <td>
                        <button type="button" aria-label={`Remove wave ${i + 1}`} disabled={f.waves.length === 1} onClick={() => set({ waves: f.waves.filter((_, j) => j !== i) })}>
                          ✕
                        </button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <label class="check">
            <input type="checkbox" name="auto_advance" checked={f.auto_advance} onChange={() => set({ auto_advance: !f.auto_advance })} /> Advance by itself
            when soak and gate pass (otherwise an operator advances)
          </label>
        </section>

        <section class="card">
          <h2>When</h2>
          <label class="check">
            <input type="checkbox" name="windows_on" checked={f.windows_on} onChange={() => set({ windows_on: !f.windows_on })} /> Only start updates in a
            window of each device's local time
          </label>
          {f.windows_on && (
            <>
              <fieldset class={shown['windows.allowed[0].days'] ? 'invalid' : ''}>
                <legend>Days the window starts on</legend>
                {DAYS.map((d) => (
                  <label class="check">
                    <input type="checkbox" name={`day-${d}`} checked={f.days.includes(d)} onChange={() => toggle('days', d)} /> {d}
                  </label>
                ))}
                {shown['windows.allowed[0].days'] && <small class="field-error">{shown['windows.allowed[0].days']}</small>}
              </fieldset>
              <div class="row">
                <Field label="From (local)" name="windows.allowed[0].start" errors={shown}>
                  <input type="time" name="window_start" value={f.start} onInput={input('start')} />
                </Field>
                <Field label="To (local)" name="windows.allowed[0].end" errors={shown} hint="before the start: runs past midnight">
                  <input type="time" name="window_end" value={f.end} onInput={input('end')} />
                </Field>
                <Field label="Device with no known zone" name="windows.unknown_zone" errors={shown}>
                  <select name="unknown_zone" value={f.unknown_zone} onChange={input('unknown_zone')}>
                    <option value="deny">waits</option>
                    <option value="utc">uses UTC</option>
                  </select>
                </Field>
              </div>
            </>
          )}
          <Field label="Urgency" name="urgency" errors={shown} hint="critical ignores the windows">
            <select name="urgency" value={f.urgency} onChange={input('urgency')}>
              <option value="normal">normal</option>
              <option value="critical">critical</option>
            </select>
          </Field>
        </section>

        <section class="card">
          <h2>Limits and eligibility</h2>
          <div class="row">
            <Field label="Max starts per minute" name="budgets.max_starts_per_minute" errors={shown} hint="fleet-wide">
              <input name="max_starts_per_minute" inputMode="numeric" value={f.max_starts_per_minute} onInput={input('max_starts_per_minute')} />
            </Field>
            <Field label="Max in flight" name="budgets.max_in_flight" errors={shown}>
              <input name="max_in_flight" inputMode="numeric" value={f.max_in_flight} onInput={input('max_in_flight')} />
            </Field>
            <Field label="Deadline (hours)" name="deadline_s" errors={shown} hint="an update not finished by then counts as failed">
              <input name="deadline_h" inputMode="decimal" value={f.deadline_h} onInput={input('deadline_h')} />
            </Field>
            <Field label="Priority" name="priority" errors={shown} hint="higher goes first">
              <input name="priority" inputMode="numeric" value={f.priority} onInput={input('priority')} />
            </Field>
          </div>
          <div class="row">
            <Field label="Minimum battery %" name="eligibility.min_battery_percent" errors={shown} hint="or charging; empty: any">
              <input name="min_battery_percent" inputMode="numeric" value={f.min_battery_percent} onInput={input('min_battery_percent')} />
            </Field>
            <Field label="Minimum bootloader" name="eligibility.min_bootloader" errors={shown}>
              <input name="min_bootloader" value={f.min_bootloader} onInput={input('min_bootloader')} placeholder="2.0.0" />
            </Field>
            <Field label="Cohort salt" name="salt" errors={shown} hint="empty: a fresh one">
              <input name="salt" value={f.salt} onInput={input('salt')} autoComplete="off" />
            </Field>
          </div>
          <fieldset>
            <legend>Networks (none checked: any)</legend>
            {NETWORKS.map((n) => (
              <label class="check">
                <input type="checkbox" name={`net-${n}`} checked={f.networks.includes(n)} onChange={() => toggle('networks', n)} /> {n}
              </label>
            ))}
          </fieldset>
        </section>

        <details class="card">
          <summary>The spec as JSON (what is sent; <code>updraft campaign create --spec</code> takes the same)</summary>
          <pre class="json">{JSON.stringify(spec, null, 2)}</pre>
        </details>

        {touched && Object.keys(errors).length > 0 && (
          <div class="error" role="alert" data-testid="form-errors">
            <strong>Fix {Object.keys(errors).length === 1 ? 'this field' : `these ${Object.keys(errors).length} fields`}:</strong>
            <ul>
              {Object.entries(errors).map(([k, v]) => (
                <li>
                  <code>{k}</code>: {v}
                </li>
              ))}
            </ul>
          </div>
        )}
        <ErrorBox error={error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create draft campaign'}
          </button>
          <span class="muted small">A draft does nothing until another person approves it and an operator starts it.</span>
        </div>
      </form>
    </>
  );
}
