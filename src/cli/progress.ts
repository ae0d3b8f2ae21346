import type { ProgressSnapshot } from '../engine/scheduler.js';
import { formatDuration } from './format.js';

const REDRAW_MS = 200;

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

  start(source: { snapshot(): Promise<ProgressSnapshot> }): void {
    this.timer = setInterval(() => {
      if (this.drawing) return;
      this.drawing = true;
      source.snapshot().then((s) => this.draw(s), () => undefined).finally(() => {
        this.drawing = false;
      });
    }, REDRAW_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.lines > 0) this.out.write(`\x1b[${this.lines}A\r\x1b[J`);
    this.lines = 0;
  }

  private draw(s: ProgressSnapshot): void {
    if (this.timer === undefined) return;
    const width = Math.max(20, (this.out.columns || 80) - 1);
    const nameW = Math.max(...s.tasks.map((t) => t.name.length));
    const numW = Math.max(...s.tasks.map((t) => String(t.total).length));
    const rows = s.tasks.map((t) => {
      const bar = progressBar(t.total === 0 ? 1 : t.done / t.total, 16);
      const extra = [t.running > 0 ? `${t.running} running` : '', t.failed > 0 ? `${t.failed} failed` : ''].filter(Boolean).join(', ');
      return `${t.name.padEnd(nameW)} ${bar} ${String(t.done).padStart(numW)}/${String(t.total).padEnd(numW)} ${extra}`;
    });
    const elapsed = Date.now() - this.started;
    const ran = s.tasks.reduce((n, t) => n + t.ran, 0);
    const left = s.tasks.reduce((n, t) => n + (t.total - t.done), 0);
    const rate = ran / Math.max(elapsed / 1000, 0.001);
    const eta = rate > 0 && left > 0 ? `, ETA ${formatDuration(Math.round((left / rate) * 1000))}` : '';
    rows.push(`${ran} steps run, ${rate.toFixed(1)} steps/s${eta}, ${formatDuration(elapsed)}`);
    const up = this.lines > 0 ? `\x1b[${this.lines}A\r` : '';
    this.out.write(up + rows.map((r) => `${r.slice(0, width)}\x1b[K\n`).join(''));
    this.lines = rows.length;
  }
}

function progressBar(fraction: number, width: number): string {
  const full = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}
