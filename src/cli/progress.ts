import type { ProgressSnapshot, TaskProgress } from '../engine/progress.js';
import { formatDuration, formatEta, plural } from './format.js';

const REDRAW_MS = 200;
/**
 * On a pipe (a CI log), one line at most this often: enough to see it move, few enough to read.
 * TASK_PIPELINE_PROGRESS_MS shortens it, for tests only.
 */
const PLAIN_MS = Number(process.env.TASK_PIPELINE_PROGRESS_MS) || 10_000;

type Source = { snapshot(): Promise<ProgressSnapshot> };

/** Steps run so far, their rate, and the time left at that rate. */
function pace(s: ProgressSnapshot, started: number): { ran: number; rate: number; eta: string; elapsed: number } {
  const elapsed = Date.now() - started;
  const ran = s.tasks.reduce((n, t) => n + t.ran, 0);
  const left = s.tasks.reduce((n, t) => n + (t.total - t.done), 0);
  const rate = ran / Math.max(elapsed / 1000, 0.001);
  return { ran, rate, elapsed, eta: rate > 0 && left > 0 ? `, ETA ${formatEta((left / rate) * 1000)}` : '' };
}

function extra(t: TaskProgress): string {
  return [t.running > 0 ? `${t.running} running` : '', t.failed > 0 ? `${t.failed} failed` : '']
    .filter(Boolean)
    .join(', ');
}

/**
 * Live progress on a terminal: a line per task (done/total, running, failed) and a line
 * with the rate and ETA, redrawn in place. Only ever constructed for a TTY.
 */
export class ProgressView {
  private lines = 0;
  private timer: NodeJS.Timeout | undefined;
  private drawing = false;
  private readonly started = Date.now();

  constructor(private readonly out: NodeJS.WritableStream & { columns?: number }) {}

  start(source: Source): void {
    this.timer = setInterval(() => {
      if (this.drawing) return;
      this.drawing = true;
      source
        .snapshot()
        .then(
          (s) => this.draw(s),
          () => undefined,
        )
        .finally(() => {
          this.drawing = false;
        });
    }, REDRAW_MS);
    this.timer.unref();
  }

  /** A message that must stay on screen (Ctrl-C): the progress lines are cleared, and redrawn below it. */
  say(text: string): void {
    this.clear();
    this.out.write(text);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }

  private clear(): void {
    if (this.lines > 0) this.out.write(`\x1b[${this.lines}A\r\x1b[J`);
    this.lines = 0;
  }

  private draw(s: ProgressSnapshot): void {
    if (this.timer === undefined) return;
    const width = Math.max(20, (this.out.columns || 80) - 1);
    const nameW = Math.max(...s.tasks.map((t) => t.name.length));
    const numW = Math.max(...s.tasks.map((t) => String(t.total).length));
    const rows = s.tasks.map((t) => {
      // A task with no steps (yet) is not "complete": its bar stays empty.
      const bar = t.total === 0 ? `[${'-'.repeat(16)}]` : progressBar(t.done / t.total, 16);
      return `${t.name.padEnd(nameW)} ${bar} ${String(t.done).padStart(numW)}/${String(t.total).padEnd(numW)} ${extra(t)}`;
    });
    const p = pace(s, this.started);
    rows.push(`${plural(p.ran, 'step')} run, ${p.rate.toFixed(1)} steps/s${p.eta}, ${formatDuration(p.elapsed)}`);
    const up = this.lines > 0 ? `\x1b[${this.lines}A\r` : '';
    this.out.write(up + rows.map((r) => `${r.slice(0, width)}\x1b[K\n`).join(''));
    this.lines = rows.length;
  }
}

/**
 * Progress without a terminal (a pipe, a CI log): one plain line every 10 s while the run goes
 * on, so a long run is seen to move; nothing for a run shorter than that.
 */
export class PlainProgress {
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();

  constructor(private readonly out: NodeJS.WritableStream) {}

  start(source: Source): void {
    this.timer = setInterval(() => {
      source.snapshot().then(
        (s) => this.line(s),
        () => undefined,
      );
    }, PLAIN_MS);
    this.timer.unref();
  }

  say(text: string): void {
    this.out.write(text);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private line(s: ProgressSnapshot): void {
    if (this.timer === undefined) return;
    const tasks = s.tasks
      .map((t) => `${t.name} ${t.done}/${t.total}${extra(t) === '' ? '' : ` (${extra(t)})`}`)
      .join(', ');
    const p = pace(s, this.started);
    this.out.write(`progress: ${tasks}; ${p.rate.toFixed(1)} steps/s${p.eta}, ${formatDuration(p.elapsed)}\n`);
  }
}

function progressBar(fraction: number, width: number): string {
  const full = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}
