// The report's charts, drawn as inline SVG by the server: the file needs no script to show them.
import type { TaskTimes } from './report.js';

export const esc = (v: unknown): string => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const WIDTH = 960;
const LABEL = 130;
const PLOT = WIDTH - LABEL - 10;
/** Up to this many steps each gets its own bar; beyond, each task is drawn as how many ran at once. */
const BARS_UP_TO = 2000;
const MAX_LANES = 24;
const BINS = 240;

export function fmtMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

/** One row per task across the run's span: a bar per step, or its concurrency when there are many. */
export function timelineSvg(tasks: TaskTimes[], t0: number, t1: number): string {
  const span = Math.max(1, t1 - t0);
  const x = (t: number) => LABEL + (PLOT * (t - t0)) / span;
  const total = tasks.reduce((n, t) => n + t.starts.length, 0);
  const bars = total <= BARS_UP_TO;
  const rows: string[] = [];
  let y = 24;
  const density = bars ? null : tasks.map((t) => concurrency(t, t0, span));
  const peak = density ? Math.max(1, ...density.map((d) => Math.max(...d))) : 1;
  tasks.forEach((t, i) => {
    const lanes = bars ? packLanes(t) : null;
    const height = bars ? Math.max(1, Math.max(0, ...lanes!) + 1) * 8 + 6 : 44;
    rows.push(`<text x="4" y="${y + 14}" class="lbl">${esc(t.name)}</text>`);
    rows.push(`<line x1="${LABEL}" x2="${LABEL + PLOT}" y1="${y + height}" y2="${y + height}" class="sep"/>`);
    if (bars) {
      t.starts.forEach((s, k) => {
        const w = Math.max(1, x(t.ends[k]!) - x(s));
        rows.push(
          `<rect x="${x(s).toFixed(1)}" y="${y + 3 + lanes![k]! * 8}" width="${w.toFixed(1)}" height="6" class="${t.failed[k] ? 'f' : 'd'}">` +
            `<title>${esc(`${t.name} step ${t.ids[k]}: ${fmtMs(t.ends[k]! - s)}${t.failed[k] ? ' (failed)' : ''}`)}</title></rect>`,
        );
      });
    } else {
      const d = density![i]!;
      const pts = d.map(
        (v, b) =>
          `${(LABEL + (PLOT * (b + 0.5)) / BINS).toFixed(1)},${(y + height - 2 - ((height - 6) * v) / peak).toFixed(1)}`,
      );
      rows.push(
        `<polygon points="${LABEL},${y + height - 2} ${pts.join(' ')} ${LABEL + PLOT},${y + height - 2}" class="area">` +
          `<title>${esc(`${t.name}: at most ${Math.max(...d).toFixed(1)} steps at once`)}</title></polygon>`,
      );
    }
    y += height + 4;
  });
  const axis = ticks(span).map(
    (v) =>
      `<line x1="${x(t0 + v).toFixed(1)}" x2="${x(t0 + v).toFixed(1)}" y1="18" y2="${y}" class="tick"/>` +
      `<text x="${x(t0 + v).toFixed(1)}" y="12" class="tl">${esc(fmtMs(v))}</text>`,
  );
  const note = bars
    ? ''
    : `<text x="${LABEL}" y="${y + 14}" class="tl">${esc(`${total} steps: each row shows how many ran at once (peak ${peak.toFixed(1)})`)}</text>`;
  return (
    `<svg class="timeline" width="${WIDTH}" height="${y + 20}" viewBox="0 0 ${WIDTH} ${y + 20}" role="img" aria-label="timeline">` +
    `${axis.join('')}${rows.join('')}${note}</svg>`
  );
}

/** Steps placed in the first lane free at their start (as the scheduler's slots were), at most MAX_LANES. */
function packLanes(t: TaskTimes): number[] {
  const order = t.starts.map((_, i) => i).sort((a, b) => t.starts[a]! - t.starts[b]!);
  const free: number[] = [];
  const lane = new Array<number>(t.starts.length).fill(0);
  for (const i of order) {
    let l = free.findIndex((end) => end <= t.starts[i]!);
    if (l === -1) l = free.length < MAX_LANES ? free.length : free.indexOf(Math.min(...free));
    free[l] = t.ends[i]!;
    lane[i] = l;
  }
  return lane;
}

/** How many of a task's steps ran at once, on average over each of BINS slices of the run. */
function concurrency(t: TaskTimes, t0: number, span: number): number[] {
  const bins = new Array<number>(BINS).fill(0);
  const w = span / BINS;
  t.starts.forEach((s, k) => {
    const a = (s - t0) / w;
    const b = (t.ends[k]! - t0) / w;
    for (let i = Math.max(0, Math.floor(a)); i < Math.min(BINS, Math.ceil(b)); i++) {
      bins[i]! += Math.max(0, Math.min(b, i + 1) - Math.max(a, i));
    }
  });
  return bins;
}

/** Round tick values (1, 2 or 5 times a power of ten ms) for about eight ticks over the span. */
function ticks(span: number): number[] {
  const raw = span / 8;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v <= span; v += step) out.push(v);
  return out;
}

const EDGES = [0, 1, 3, 10, 30, 100, 300, 1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6, 3e6, Infinity];

/** A task's step durations on log-spaced bins, with count, median, 90th percentile and max. */
export function histogramSvg(t: TaskTimes): {
  svg: string;
  stats: { n: number; median: number; p90: number; max: number } | null;
} {
  const d = t.starts.map((s, k) => t.ends[k]! - s).sort((a, b) => a - b);
  if (d.length === 0) return { svg: '', stats: null };
  const counts = EDGES.slice(0, -1).map((lo, i) => d.filter((v) => v >= lo && v < EDGES[i + 1]!).length);
  const first = counts.findIndex((c) => c > 0);
  const last = counts.length - 1 - [...counts].reverse().findIndex((c) => c > 0);
  const shown = counts.slice(first, last + 1);
  const max = Math.max(...shown);
  const bw = Math.min(48, Math.floor(280 / shown.length));
  const label = (i: number) => {
    const lo = EDGES[first + i]!;
    const hi = EDGES[first + i + 1]!;
    return hi === Infinity ? `${fmtMs(lo)}+` : `<${fmtMs(hi)}`;
  };
  const bars = shown.map((c, i) => {
    const h = c === 0 ? 0 : Math.round(Math.max(2, (62 * c) / max));
    return (
      `<rect x="${i * bw + 2}" y="${80 - h}" width="${bw - 4}" height="${h}" class="bar"><title>${esc(`${label(i)}: ${c} step${c === 1 ? '' : 's'}`)}</title></rect>` +
      `<text x="${i * bw + bw / 2}" y="${76 - h}" class="n">${c === 0 ? '' : c}</text>` +
      `<text x="${i * bw + bw / 2}" y="94" class="bl">${esc(label(i))}</text>`
    );
  });
  const width = shown.length * bw + 4;
  const q = (p: number) => d[Math.min(d.length - 1, Math.floor(p * d.length))]!;
  return {
    svg: `<svg class="hist" width="${width}" height="100" viewBox="0 0 ${width} 100" role="img" aria-label="${esc(`durations of ${t.name}`)}">${bars.join('')}</svg>`,
    stats: { n: d.length, median: q(0.5), p90: q(0.9), max: d[d.length - 1]! },
  };
}
