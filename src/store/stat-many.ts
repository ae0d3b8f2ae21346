import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** Numbers per path in the shared array: size, mtimeMs, ctimeMs, ino, dev (a plain stat's). */
export const STAMP_WIDTH = 5;

/**
 * Below this many paths, stats on the calling thread cost less than starting a worker (and a
 * directory is not summed up, input-summary.ts). TASK_PIPELINE_STAT_WORKER_MIN lowers it, so that
 * the differential test takes that path with its small directories.
 */
export const WORKER_MIN_PATHS = Number(process.env.TASK_PIPELINE_STAT_WORKER_MIN) || 2000;

/** Paths claimed at a time, by the worker or by the caller. */
const CHUNK = 256;

/**
 * A plain stat of each path (following symlinks), into one shared array of numbers: STAMP_WIDTH
 * per path, in order, size NaN where the stat failed. A worker thread starts on them at once, while
 * the caller does other work; when the caller needs them (finish), it takes its share of the rest:
 * both claim chunks from one shared counter. The caller makes no Stats object (nor its four Dates)
 * for what the worker did.
 */
export class StatMany {
  readonly stamps: Float64Array;
  private readonly next: Int32Array;
  private readonly exited: Promise<void>;

  constructor(private readonly paths: string[]) {
    this.stamps = new Float64Array(new SharedArrayBuffer(paths.length * STAMP_WIDTH * 8));
    this.next = new Int32Array(new SharedArrayBuffer(4));
    // One string, not an array of them: a single copy into the worker.
    const worker = new Worker(new URL('./stat-worker.js', import.meta.url), {
      workerData: { paths: paths.join('\0'), stamps: this.stamps, next: this.next },
    });
    this.exited = new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`the stat worker exited with ${code}`)),
      );
    });
    this.exited.catch(() => {});
  }

  /** Every path's stamp: the chunks no thread has claimed are done here, then the worker's last one awaited. */
  async finish(): Promise<Float64Array> {
    statChunks(this.paths, this.stamps, this.next);
    await this.exited;
    return this.stamps;
  }
}

/** Claim chunks of paths until none is left, and stat each path of them into `stamps`. */
export function statChunks(paths: string[], stamps: Float64Array, next: Int32Array): void {
  for (;;) {
    const from = Atomics.add(next, 0, 1) * CHUNK;
    if (from >= paths.length) return;
    for (let k = from; k < Math.min(from + CHUNK, paths.length); k++) {
      const at = k * STAMP_WIDTH;
      try {
        const st = statSync(paths[k]!);
        stamps[at] = st.size;
        stamps[at + 1] = st.mtimeMs;
        stamps[at + 2] = st.ctimeMs;
        stamps[at + 3] = st.ino;
        stamps[at + 4] = st.dev;
      } catch {
        // Whoever needs this file stats it again, and reports what fails.
        stamps[at] = NaN;
      }
    }
  }
}
