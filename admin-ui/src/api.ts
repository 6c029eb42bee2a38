// The admin API client: the token lives in sessionStorage (this tab only,
// gone when it closes; never in a URL), every error is the API's
// problem+json turned into an ApiError with its slug and detail.

const TOKEN_KEY = 'updraft.token';

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  status: number;
  slug: string;
  detail: string;
  constructor(status: number, slug: string, title: string, detail: string) {
    super(detail || title);
    this.status = status;
    this.slug = slug;
    this.detail = detail || title;
  }
}

async function toError(res: Response): Promise<ApiError> {
  let slug = 'http-error';
  let title = res.statusText;
  let detail = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    slug = String(body.type ?? '').replace(/^urn:updraft:problem:/, '') || slug;
    title = body.title ?? title;
    detail = body.detail ?? detail;
  } catch {
    /* not problem+json */
  }
  return new ApiError(res.status, slug, title, detail);
}

/** Called when the token stops working (401), so the app can sign out. */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(f: () => void): void {
  onUnauthorized = f;
}

export async function request<T>(method: string, path: string, body?: unknown, token = getToken()): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (body !== undefined) {
    if (typeof body === 'string') payload = body;
    else payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
  if (!res.ok) {
    const e = await toError(res);
    if (res.status === 401 && token === getToken()) onUnauthorized();
    throw e;
  }
  const type = res.headers.get('content-type') ?? '';
  return (type.includes('json') ? res.json() : res.text()) as Promise<T>;
}

export const get = <T>(path: string) => request<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => request<T>('POST', path, body);

/** PUT a file with upload progress (fetch has none): XMLHttpRequest. */
export function putWithProgress<T>(path: string, file: Blob, onProgress: (sent: number, total: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', path);
    const token = getToken();
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onerror = () => reject(new ApiError(0, 'network-error', 'Network error', 'the upload failed: the edge did not answer'));
    xhr.onload = () => {
      let body: any = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* empty */
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size, file.size);
        resolve(body as T);
      } else {
        const slug = String(body?.type ?? '').replace(/^urn:updraft:problem:/, '') || 'http-error';
        reject(new ApiError(xhr.status, slug, body?.title ?? xhr.statusText, body?.detail ?? `${xhr.status}`));
      }
    };
    xhr.send(file);
  });
}

// --- the API's shapes (the parts the UI reads) ---------------------------------

export type Role = 'uploader' | 'approver' | 'operator' | 'security' | 'viewer' | 'admin';

export interface Me {
  id: string;
  name: string;
  role: Role;
  may: Record<string, boolean>;
}

export interface FleetRow {
  product: string;
  running_version: string;
  hardware_id: string;
  region: string;
  devices: number;
}

export interface Fleet {
  devices: number;
  by: FleetRow[];
}

export interface Device {
  id: string;
  product: string;
  hardware_id: string;
  serial: string;
  enrolled_at: number;
  revoked_at: number | null;
  running_version: string | null;
  running_security_version: number | null;
  last_state: string | null;
  last_report_at: number | null;
  last_report_received_at: number | null;
  us_state: string | null;
  country: string | null;
  timezone: string | null;
  region: string;
  status: 'online' | 'stale' | 'never-reported' | 'revoked';
}

export interface DevicePage {
  devices: Device[];
  next_after_id: string | null;
  counts: { total: number; online: number; stale: number; never_reported: number; revoked: number };
  online_window_s: number;
  now: number;
}

export interface Report {
  seq: number;
  at: number;
  received_at: number;
  event: { state: string; code?: string; uptime_s?: number; reboots?: number; crashes?: number };
  running: string;
  running_security_version?: number;
  sha256?: string;
  campaign_id?: string;
  [k: string]: unknown;
}

export interface Manifest {
  product: string;
  hardware_ids: string[];
  version: string;
  security_version: number;
  artifact: { sha256: string; length: number; name?: string };
  created?: number;
  expires?: number;
  notes?: string;
}

export interface Release {
  id: string;
  product: string;
  version: string;
  security_version: number;
  artifact_sha256: string;
  envelope: string;
  status: string;
  uploaded_by: string;
  uploaded_at: number;
  approved_by: string | null;
  approved_at: number | null;
  signers: string[];
  manifest: Manifest | null;
}

export interface CampaignState {
  state: 'draft' | 'approved' | 'running' | 'paused' | 'halted' | 'completed' | 'cancelled';
  wave?: number;
  since?: number;
  rollback?: boolean;
}

export interface CampaignSummary {
  id: string;
  name: string;
  release_id: string;
  product: string;
  state: CampaignState;
  wave: number | null;
  wave_name: string | null;
  pace_per_minute: number;
  created_by: string;
  created_at: number;
  approved_by: string | null;
  approved_at: number | null;
  updated_at: number;
}

export interface WaveCounters {
  offered: number;
  started: number;
  in_flight: number;
  succeeded: number;
  failed: number;
  rolled_back: number;
  expired: number;
  [k: string]: number;
}

export interface WaveView {
  index: number;
  name: string;
  percent: number;
  min_soak_minutes: number;
  counters: WaveCounters;
  failure_rate: number | null;
  failure_rate_upper_bound: number;
  gate_max_failure_rate: number;
  gate_min_finished: number;
  verdict: { verdict: 'pass' | 'pending' | 'fail'; reason?: any };
  mean_time_to_recovery_s: number | null;
}

export interface HistoryEntry {
  seq: number;
  at: number;
  actor: string;
  /** The token's name when the action was recorded (people, not token ids). */
  actor_name?: string;
  action: string;
  details: any;
}

export interface CampaignStatus {
  campaign: CampaignSummary;
  spec: any;
  waves: WaveView[];
  campaign_mttr_s: number | null;
  waiting: any;
  pending_change: any;
  adoption: { release_version: string; devices: number; on_release: number; percent: number };
  history: HistoryEntry[];
}

export interface SeriesPoint {
  minute: number;
  at: number;
  offered: number;
  started: number;
  succeeded: number;
  failed: number;
  rolled_back: number;
  expired: number;
}

export interface AuditEntry {
  seq: number;
  at: number;
  actor: string;
  actor_name: string;
  role: string;
  action: string;
  subject: string;
  details: unknown;
  prev: string;
  hash: string;
}

export interface Purge {
  status: 'pending' | 'succeeded' | 'failed' | 'not-configured';
  attempts: number;
  last_error: string | null;
  next_attempt_at: number | null;
  done_at: number | null;
  urls: string[];
  tags: string[];
}

export interface Revocation {
  seq: number;
  reason: string;
  created_at: number;
  created_by: string;
  sha256: string[];
  release_ids: string[];
  min_security_version: Record<string, number>;
  replacement_release_id: string | null;
  fix_forward_campaign_id: string | null;
  halted_campaigns: string[];
  purge: Purge;
}
