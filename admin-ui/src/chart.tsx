// The campaign chart (uPlot): devices updated over time on the left axis;
// failure rate, its Wilson upper bound (what the gate judges) and the gate's
// threshold on the right axis, so the bound is seen approaching the line.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { utcText } from './ui';

/** Core's `wilson_interval(k, n, z).1` (core/src/rollout/gate.rs). */
export function wilsonUpper(k: number, n: number, z: number): number {
  if (n === 0) return 1;
  k = Math.min(k, n);
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = p + z2 / (2 * n);
  const margin = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return Math.min(1, (centre + margin) / denom);
}

export interface ChartPoint {
  at: number; // unix s
  succeeded: number; // cumulative
  failures: number; // cumulative (failed + rolled back + expired)
  started: number; // cumulative
}

export function CampaignChart({ points, threshold, z, label }: { points: ChartPoint[]; threshold: number; z: number; label: string }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  const data = (): uPlot.AlignedData => {
    const xs = points.map((p) => p.at);
    const rate = points.map((p) => {
      const n = p.succeeded + p.failures;
      return n ? p.failures / n : null;
    });
    const bound = points.map((p) => {
      const n = p.succeeded + p.failures;
      return n ? wilsonUpper(p.failures, n, z) : null;
    });
    return [xs, points.map((p) => p.succeeded), points.map((p) => p.started), rate, bound, points.map(() => threshold)];
  };

  useEffect(() => {
    if (!el.current) return;
    const width = () => Math.max(280, el.current!.clientWidth);
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue('--fg').trim() || '#222';
    const grid = css.getPropertyValue('--grid').trim() || '#ddd';
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    const opts: uPlot.Options = {
      width: width(),
      height: 260,
      title: label,
      tzDate: (ts) => new Date(ts * 1000), // operator's zone
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true }, n: { auto: true, range: (_u, _min, max) => [0, Math.max(1, max)] }, r: { range: [0, 1] } },
      axes: [
        // Whole seconds at least: a campaign's first minute must not read as milliseconds.
        { ...axis, space: 60, incrs: [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400, 604800] },
        { ...axis, scale: 'n', label: 'devices' },
        { ...axis, scale: 'r', side: 1, label: 'failure rate', values: (_u, vals) => vals.map((v) => `${Math.round(v * 100)} %`), grid: { show: false } },
      ],
      series: [
        { label: 'time', value: (_u, v) => (v === null ? '—' : new Date(v * 1000).toLocaleTimeString()) },
        { label: 'updated', scale: 'n', stroke: '#2f9e44', width: 2, fill: 'rgba(47,158,68,0.12)' },
        { label: 'started', scale: 'n', stroke: '#1971c2', width: 1.5, dash: [4, 3] },
        { label: 'failure rate', scale: 'r', stroke: '#e8590c', width: 2, spanGaps: true, value: (_u, v) => (v === null ? '—' : `${(v * 100).toFixed(1)} %`) },
        { label: 'upper bound', scale: 'r', stroke: '#c92a2a', width: 2, dash: [6, 3], spanGaps: true, value: (_u, v) => (v === null ? '—' : `${(v * 100).toFixed(1)} %`) },
        { label: 'gate threshold', scale: 'r', stroke: '#862e9c', width: 1.5, points: { show: false }, value: (_u, v) => (v === null ? '—' : `${(v * 100).toFixed(1)} %`) },
      ],
    };
    plot.current = new uPlot(opts, data(), el.current);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: width(), height: 260 }));
    ro.observe(el.current);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [label]);

  useEffect(() => {
    plot.current?.setData(data());
  }, [points, threshold, z]);

  const last = points[points.length - 1];
  return (
    <figure class="chart" data-testid="campaign-chart">
      <div ref={el} />
      <figcaption class="small muted">
        Cumulative over the campaign, per minute and live while this page is open.
        {last ? ` Last point ${new Date(last.at * 1000).toLocaleString()} (${utcText(last.at)}).` : ' No activity yet.'}
      </figcaption>
    </figure>
  );
}
