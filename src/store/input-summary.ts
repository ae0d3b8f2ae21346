import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { STAMP_WIDTH } from './stat-many.js';

/**
 * A directory given with -input, summed up: the SHA-256 of its walk (every file's name, and its
 * plain stat as stat-many.ts lays it out). The same digest, every time settled before the summary
 * was recorded (input-cache.ts), is the same files with the same bytes: a re-run needs neither the
 * entry of each file nor the run inputs they are.
 */
export function digestOf(names: string[], stamps: Float64Array, from: number, to: number): string {
  const h = createHash('sha256');
  h.update(names.slice(from, to).join('\0'));
  h.update('\0');
  h.update(new Uint8Array(stamps.buffer, stamps.byteOffset + from * STAMP_WIDTH * 8, (to - from) * STAMP_WIDTH * 8));
  return h.digest('hex');
}

/** The latest mtime or ctime (ms) among these stamps: NaN if a stat failed. */
export function latestChange(stamps: Float64Array, from: number, to: number): number {
  let latest = -Infinity;
  for (let k = from; k < to; k++) {
    const at = k * STAMP_WIDTH;
    if (Number.isNaN(stamps[at])) return NaN;
    latest = Math.max(latest, stamps[at + 1]!, stamps[at + 2]!);
  }
  return latest;
}

/** Put a bigint stat in a file's place, as the plain stat of the same instant would read. */
export function putStamp(stamps: Float64Array, k: number, st: BigIntStats): void {
  const ms = (ns: bigint) => Number(ns / 1_000_000_000n) * 1e3 + Number(ns % 1_000_000_000n) / 1e6;
  const at = k * STAMP_WIDTH;
  stamps[at] = Number(st.size);
  stamps[at + 1] = ms(st.mtimeNs);
  stamps[at + 2] = ms(st.ctimeNs);
  stamps[at + 3] = Number(st.ino);
  stamps[at + 4] = Number(st.dev);
}

/** The files of one directory given: files[from, to) (the walk keeps each argument's files together). */
export interface SourceRange {
  dir: string;
  from: number;
  to: number;
}

export function sourceRanges(files: { source: string | null }[]): SourceRange[] {
  const ranges: SourceRange[] = [];
  for (let k = 0; k < files.length; k++) {
    const dir = files[k]!.source;
    if (dir === null) continue;
    const last = ranges.at(-1);
    if (last !== undefined && last.dir === dir && last.to === k) last.to++;
    else ranges.push({ dir, from: k, to: k + 1 });
  }
  return ranges;
}
