import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DB_FILE } from '../store/database.js';
import type { LiveCounts } from './live-counts.js';

export interface StatusSnapshot {
  /** The per-task counts as of `asOf`; null until the first are in. */
  status: LiveCounts | null;
  asOf: number | null;
  /** How long the worker took for them: on a big db the view lags the db by about this much. */
  tookMs: number | null;
  computing: boolean;
  error: string | null;
}

type Reply = { ok: true; status: LiveCounts; tookMs: number } | { ok: false; error: string; tookMs: number };

/**
 * Counts for the overview, computed by a worker thread whenever the db has changed (a commit
 * grows the -wal or rewrites the file) and someone is looking. A recount waits at least twice
 * as long as the last one took, so that on a big db the view never takes more than a third of a
 * core from the run it watches.
 */
export class StatusCache {
  private worker: Worker | null = null;
  private latest: { status: LiveCounts; asOf: number } | null = null;
  private error: string | null = null;
  private seen: string | null = null;
  private busy: string | null = null;
  private finishedAt = 0;
  private tookMs: number | null = null;

  constructor(private readonly dbDir: string) {
    this.refresh();
  }

  snapshot(): StatusSnapshot {
    this.refresh();
    return {
      status: this.latest?.status ?? null,
      asOf: this.latest?.asOf ?? null,
      tookMs: this.tookMs,
      computing: this.busy !== null,
      error: this.error,
    };
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private refresh(): void {
    if (this.busy !== null) return;
    const sig = signature(this.dbDir);
    if (sig === this.seen) return;
    if (Date.now() - this.finishedAt < Math.max(250, 2 * (this.tookMs ?? 0))) return;
    this.busy = sig;
    this.ensureWorker().postMessage({ dbDir: this.dbDir });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./status-worker.js', import.meta.url));
    // The server keeps the process alive; the worker alone must not.
    w.unref();
    w.on('message', (m: Reply) => this.done(m));
    // A worker that died (out of memory, a bug) is replaced at the next look; the view says why meanwhile.
    w.on('error', (err) => this.done({ ok: false, error: err.message, tookMs: 0 }));
    w.on('exit', () => {
      if (this.worker === w) this.worker = null;
    });
    this.worker = w;
    return w;
  }

  private done(m: Reply): void {
    this.seen = this.busy;
    this.busy = null;
    this.finishedAt = Date.now();
    this.tookMs = m.tookMs;
    if (m.ok) {
      this.latest = { status: m.status, asOf: this.finishedAt - m.tookMs };
      this.error = null;
    } else {
      this.error = m.error;
    }
  }
}

/** What changes with every commit: the db file, and its -wal while a writer has it open. */
function signature(dbDir: string): string {
  const part = (f: string) => {
    const st = statSync(join(dbDir, f), { throwIfNoEntry: false });
    return st ? `${st.size}:${st.mtimeMs}:${st.ino}` : '-';
  };
  return `${part(DB_FILE)}|${part(`${DB_FILE}-wal`)}`;
}
