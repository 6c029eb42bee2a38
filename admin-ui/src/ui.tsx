// Small shared pieces: times, polling, error and empty states, confirmations.
import { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

const local = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function utcText(unix: number): string {
  return new Date(unix * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

/** A time in the operator's zone; UTC on hover (title) and in the datetime attribute. */
export function Time({ at }: { at: number | null | undefined }) {
  if (at === null || at === undefined) return <span class="muted">—</span>;
  const d = new Date(at * 1000);
  return (
    <time dateTime={d.toISOString()} title={utcText(at)}>
      {local.format(d)}
    </time>
  );
}

export function ago(unix: number | null | undefined, now = Date.now() / 1000): string {
  if (!unix) return 'never';
  const s = Math.max(0, Math.round(now - unix));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export const pct = (x: number | null | undefined, digits = 1) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(digits)} %`);
export const short = (s: string, n = 12) => (s.length > n ? `${s.slice(0, n)}…` : s);

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => Promise<void>;
  updatedAt: number | undefined;
}

/**
 * Loads `fetcher()` now and, with `intervalMs`, again every interval while the
 * tab is visible (live views): the last good data stays on screen when a poll fails.
 */
export function useLoad<T>(fetcher: () => Promise<T>, deps: unknown[], intervalMs?: number | null): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const [updatedAt, setUpdatedAt] = useState<number>();
  const gen = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++gen.current;
    try {
      const d = await fetcher();
      if (mine !== gen.current) return;
      setData(d);
      setError(undefined);
      setUpdatedAt(Date.now());
    } catch (e) {
      if (mine !== gen.current) return;
      setError(e as Error);
    } finally {
      if (mine === gen.current) setLoading(false);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    setLoading(true);
    setData(undefined);
    reload();
  }, [reload]);
  useEffect(() => {
    if (!intervalMs) return;
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') reload();
    }, intervalMs);
    return () => clearInterval(t);
  }, [reload, intervalMs]);
  return { data, error, loading, reload, updatedAt };
}

export function ErrorBox({ error, retry }: { error: Error | undefined; retry?: () => void }) {
  if (!error) return null;
  const slug = error instanceof ApiError ? error.slug : 'error';
  return (
    <div class="error" role="alert">
      <strong>{error instanceof ApiError && error.status ? `${error.status} · ${slug}` : 'Error'}</strong>
      <span> {error.message}</span>
      {retry && (
        <button type="button" class="link" onClick={retry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

export function Loading() {
  return (
    <div class="loading" role="status" aria-live="polite">
      Loading…
    </div>
  );
}

/** Renders a load's states: loading, error (with retry), or the content. */
export function Show<T>({ load, children }: { load: Loaded<T>; children: (data: T) => ComponentChildren }) {
  if (load.data === undefined) {
    if (load.error) return <ErrorBox error={load.error} retry={load.reload} />;
    return <Loading />;
  }
  return (
    <>
      {load.error && <ErrorBox error={load.error} retry={load.reload} />}
      {children(load.data)}
    </>
  );
}

export function Badge({ kind, children }: { kind: string; children: ComponentChildren }) {
  return <span class={`badge badge-${kind}`}>{children}</span>;
}

/**
 * A modal confirmation (native <dialog>: focus trapped, Esc closes). With
 * `typed`, the operator must type that text back before confirming.
 */
export function Confirm({
  title,
  children,
  typed,
  confirmLabel,
  danger,
  onConfirm,
  onClose,
}: {
  title: string;
  children: ComponentChildren;
  typed?: string;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<void>;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  const ok = !typed || text.trim() === typed;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!ok || busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm();
      onClose();
    } catch (err) {
      setError(err as Error);
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title" onClose={onClose}>
      <form method="dialog" onSubmit={submit}>
        <h2 id="confirm-title">{title}</h2>
        <div class="confirm-body">{children}</div>
        {typed && (
          <label class="field">
            <span>
              Type <code>{typed}</code> to confirm
            </span>
            <input
              name="typed"
              autoComplete="off"
              spellcheck={false}
              value={text}
              onInput={(e) => setText((e.target as HTMLInputElement).value)}
            />
          </label>
        )}
        <ErrorBox error={error} />
        <div class="actions">
          <button type="button" onClick={() => ref.current?.close()}>
            Back
          </button>
          <button type="submit" class={danger ? 'danger' : 'primary'} disabled={!ok || busy}>
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** Seconds as "3 min 20 s". */
export function duration(s: number | null | undefined): string {
  if (s === null || s === undefined) return '—';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
