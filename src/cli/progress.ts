import type { Scheduler } from '../engine/scheduler.js';

/** One status line on a terminal, redrawn in place at most every 100 ms. */
export class ProgressLine {
  private last = 0;
  private drawn = false;
  constructor(private readonly out: NodeJS.WritableStream) {}

  update(s: Scheduler): void {
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    this.out.write(`\r\x1b[K${s.progressText()}`);
    this.drawn = true;
  }

  clear(): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }
}
