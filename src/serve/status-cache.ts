import { Worker } from 'node:worker_threads';
import { liveCounts, type LiveCounts } from './live-counts.js';
import type { ServeDb } from './serve-db.js';

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
 * core from the run it watches. On PostgreSQL, where no file tells of a commit, the counts are
 * recounted once a second at most, here (the server does the work).
 */
export class StatusCache {
  private worker: Worker | null = null;
  private latest: { status: LiveCounts; asOf: number } | null = null;
  private error: string | null = null;
  private seen: string | null = null;
  private busy: string | null = null;
  private finishedAt = 0;
  private tookMs: number | null = null;

  constructor(private readonly db: ServeDb) {
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
    const sig = this.db.signature();
    if (sig !== null && sig === this.seen) return;
    const rest = Math.max(sig === null ? 1000 : 250, 2 * (this.tookMs ?? 0));
    if (Date.now() - this.finishedAt < rest) return;
    this.busy = sig ?? 'time';
    if (sig !== null) {
      this.ensureWorker().postMessage({ dbDir: this.db.store });
      return;
    }
    const t0 = performance.now();
    const took = () => Math.round(performance.now() - t0);
    this.db
      .use((i) => liveCounts(i.q))
      .then(
        (status) => this.done({ ok: true, status, tookMs: took() }),
        (err: unknown) => this.done({ ok: false, error: (err as Error).message, tookMs: took() }),
      );
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    // Named from dist/'s top level: the same from this module and from the CLI's bundle (shipped.ts).
    const w = new Worker(new URL('../serve/status-worker.js', import.meta.url));
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
