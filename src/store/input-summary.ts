import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import type { Stamp } from './input-cache.js';

/** Numbers per file in a digest's chunk: size, mtimeMs, ctimeMs, ino, dev (a plain stat's). */
const STAMP_WIDTH = 5;
/** Files hashed together: a fixed number, so the digest depends only on the walk, never on batch sizes. */
const CHUNK = 256;

/**
 * A directory given with -input, summed up as it is walked: the SHA-256 of every file's name and
 * plain stat, in walk order, fed a file at a time (nothing kept per file). The same digest, every
 * change in it settled before the summary was recorded (input-cache.ts), is the same files with
 * the same bytes: a re-run needs neither the entry of each file nor the run inputs they are.
 *
 * A change of this format (or of the walk's order) makes every stored summary differ once: the
 * next run compares its directories file by file, as without a summary, and sums them up anew.
 */
export class DirDigest {
  private readonly hash = createHash('sha256');
  private readonly stamps = new Float64Array(CHUNK * STAMP_WIDTH);
  private names: string[] = [];
  /** The latest mtime or ctime (ms) seen: NaN once a stat failed (then nothing is vouched for). */
  latest = -Infinity;

  /** The next file of the walk, with its plain stat (or the bigint one taken at its read: putStamp), null if it failed. */
  add(name: string, st: Stamp | null): void {
    const at = this.names.length * STAMP_WIDTH;
    this.names.push(name);
    if (st === null) {
      this.stamps.fill(NaN, at, at + STAMP_WIDTH);
      this.latest = NaN;
    } else {
      this.stamps[at] = st.size;
      this.stamps[at + 1] = st.mtimeMs;
      this.stamps[at + 2] = st.ctimeMs;
      this.stamps[at + 3] = st.ino;
      this.stamps[at + 4] = st.dev;
      this.latest = Math.max(this.latest, st.mtimeMs, st.ctimeMs);
    }
    if (this.names.length === CHUNK) this.flush();
  }

  /** Nothing to vouch for (a file was skipped or raced its read). */
  spoil(): void {
    this.latest = NaN;
  }

  digest(): string {
    this.flush();
    return this.hash.digest('hex');
  }

  private flush(): void {
    if (this.names.length === 0) return;
    this.hash.update(`${this.names.join('\0')}\0`);
    this.hash.update(new Uint8Array(this.stamps.buffer, 0, this.names.length * STAMP_WIDTH * 8));
    this.names = [];
  }
}

/** A bigint stat as the plain stat of the same instant reads it (Node's sec * 1e3 + nsec / 1e6). */
export function stampOf(st: BigIntStats): Stamp {
  const ms = (ns: bigint) => Number(ns / 1_000_000_000n) * 1e3 + Number(ns % 1_000_000_000n) / 1e6;
  return {
    size: Number(st.size),
    mtimeMs: ms(st.mtimeNs),
    ctimeMs: ms(st.ctimeNs),
    ino: Number(st.ino),
    dev: Number(st.dev),
  };
}
