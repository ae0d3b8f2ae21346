import type Database from 'better-sqlite3';
import type { BigIntStats, Stats } from 'node:fs';
import { chunkRange, DirSummaries, summaryKey, type DirSummary } from './dir-summaries.js';

export type { DirSummary } from './dir-summaries.js';

/**
 * A change this close before an entry was recorded may be invisible to a later stat. Timestamps
 * come from a clock that advances in ticks (a few ms on Linux, 1 s on some filesystems, 2 s for a
 * FAT mtime): a write landing in the tick of the stat we cached leaves size, mtime, ctime and
 * inode as they were. So an entry vouches for a file only if both its mtime and its ctime are
 * older than the moment the entry was recorded by more than any tick (git's "racy" entries).
 */
export const RACY_MARGIN_MS = 2000;

/**
 * What the cache compares, as a plain (non-bigint) stat gives it: numbers, no BigInt made per
 * file. Node derives mtimeMs from the stat's seconds and nanoseconds as `sec * 1e3 + nsec / 1e6`;
 * the lookup computes the same double from the stored nanoseconds, so an unchanged time compares
 * equal. A double resolves today's times to about 0.25 µs: two writes closer than that, keeping
 * size and inode, could compare equal, but a write after an entry was recorded leaves a ctime that
 * the entry, recorded before it, cannot have (SETTLED): the stat differs.
 */
export interface Stamp {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
}

/**
 * An entry that may vouch for its file, as looked up (a raw row: no object, no path string per
 * file): the file's index in the paths asked, the stamp recorded, and the hash of what was read.
 * Only entries recorded safely after their file's last change are looked up (SETTLED).
 */
export type Cached = readonly [
  index: number,
  size: number,
  mtimeMs: number,
  ctimeMs: number,
  ino: number,
  dev: number,
  hash: string,
];

/** The entry to record for a file read: exact, from a bigint stat. */
export interface StatEntry {
  /** The file's absolute path, as found by the walk. */
  path: string;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  dev: bigint;
  hash: string;
  recordedAt: number;
}

/**
 * Inode and device numbers are unsigned 64-bit; SQLite's integers are signed: stored wrapped. A
 * BigInt is made only for the rare number at or above 2^63.
 */
const TOP = 1n << 63n;
const signed = (v: bigint) => (v < TOP ? v : BigInt.asIntN(64, v));
/** The same number read back as a double, as a plain stat gives it (a rounding difference costs a read, no more). */
const unsignedNumber = (v: number) => v + 2 ** 64;

/** Rows whose inode and device numbers, stored wrapped, are read back as a plain stat gives them (in place). */
export function unwrapped<R extends StampRow>(rows: R[]): R[] {
  for (const r of rows) {
    if (r[4] < 0) r[4] = unsignedNumber(r[4]);
    if (r[5] < 0) r[5] = unsignedNumber(r[5]);
  }
  return rows;
}

/** The entry to record for a file read with this (bigint) stat. */
export function entryOf(path: string, st: BigIntStats, hash: string, recordedAt: number): StatEntry {
  return { path, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, dev: st.dev, hash, recordedAt };
}

/**
 * A plain stat kept as its stamp: five numbers. A Stats object (with its four Dates) that lived
 * through a batch would outlive the young generation, and pile up in the old one.
 */
export function plainStamp(st: Stats): Stamp {
  return { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, dev: st.dev };
}

/** Two stamps of one path are the same stat. */
export function sameStamp(a: Stamp, b: Stamp): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino && a.dev === b.dev;
}

/** A row's stamp as looked up: index, size, mtimeMs, ctimeMs, ino, dev (then anything). */
type StampRow = [number, number, number, number, number, number, ...unknown[]];

/** The file has the stat its entry recorded: then the bytes read then are its bytes still. */
export function unchangedSince(entry: Readonly<StampRow>, now: Stamp): boolean {
  return (
    entry[1] === now.size &&
    entry[2] === now.mtimeMs &&
    entry[3] === now.ctimeMs &&
    entry[4] === now.ino &&
    entry[5] === now.dev
  );
}

/** Node's milliseconds of a time stored in ns (the same operations, so the same double). Before 1970 it differs: a read. */
export const msOfNs = (col: string) => `(${col} / 1000000000) * 1000.0 + (${col} % 1000000000) / 1000000.0`;
/**
 * Recorded safely after the file's last change: both its times older than the recording by more
 * than the margin, compared exactly, in ns. A file with the stat recorded has these times still,
 * so this is checked here, once, rather than on every stat. A future time is never settled.
 */
export const SETTLED = `c.mtime_ns < (c.recorded_at - ${RACY_MARGIN_MS}) * 1000000 AND c.ctime_ns < (c.recorded_at - ${RACY_MARGIN_MS}) * 1000000`;
const USABLE = `SELECT j.key, c.size, ${msOfNs('c.mtime_ns')}, ${msOfNs('c.ctime_ns')}, c.ino, c.dev, lower(hex(c.object_hash))`;
type Row = [number, number, number, number, number, number, string];

/**
 * The stat cache of run inputs (table input_stat): per path, the stat it had when it was read and
 * the hash of what was read. A row is written only after its object is stored and the run input
 * naming it committed, and is used only while its object is in the store: gc deletes the rows of
 * the objects it deletes (collect-garbage.ts), and an object moved aside is looked for (movedAside
 * in ingest.ts). A stale or orphaned row can cost a re-read, never a wrong hash.
 */
export class InputStatCache {
  private readonly s;
  private readonly summaries: DirSummaries;

  constructor(private readonly db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      // In the order of the paths asked: one probe of the primary key each (CROSS JOIN fixes the order).
      lookup: p(`${USABLE} FROM json_each(?) j CROSS JOIN input_stat c ON c.path = j.value WHERE ${SETTLED}`).raw(true),
      // A file's path holds no NUL; the summaries of the directories below hold one (summaryKey).
      countUnder: p(`SELECT count(*) FROM input_stat WHERE path >= ? AND path < ? AND ${NO_NUL}`).pluck(),
      pathsUnder: p(`SELECT path FROM input_stat WHERE path >= ? AND path < ? AND ${NO_NUL}`).pluck(),
      dropChunks: p(`DELETE FROM input_stat WHERE path > ? AND path < ?`),
      upsert: p(`INSERT INTO input_stat(path, size, mtime_ns, ctime_ns, ino, dev, object_hash, recorded_at)
                 VALUES (?, ?, ?, ?, ?, ?, unhex(?), ?)
                 ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
                   ctime_ns = excluded.ctime_ns, ino = excluded.ino, dev = excluded.dev,
                   object_hash = excluded.object_hash, recorded_at = excluded.recorded_at`),
      remove: p(`DELETE FROM input_stat WHERE path = ?`),
    };
    this.summaries = new DirSummaries(db);
  }

  /** The entries that may vouch for these paths (one query), in their order, each with its path's index. */
  lookup(paths: string[]): Cached[] {
    return unwrapped(this.s.lookup.all(JSON.stringify(paths)) as Row[]);
  }

  /** How many entries there are below a directory, usable or not (a count over the key range). */
  countUnder(dir: string): number {
    return this.s.countUnder.get(...under(dir)) as number;
  }

  /**
   * Drop the entries below a directory whose files are gone, knowing that its walk just met `walked`
   * files (each has one entry at most): only when it holds more entries than that, each looked at.
   */
  dropGone(dir: string, walked: number, isFile: (path: string) => boolean): void {
    if (this.countUnder(dir) <= walked) return;
    // Streamed: the paths below it are never all in memory, only those gone.
    const gone: string[] = [];
    for (const path of this.s.pathsUnder.iterate(...under(dir)) as IterableIterator<string>)
      if (!isFile(path)) gone.push(path);
    this.record([], gone);
  }

  /**
   * The directory is as its summary says (input-summary.ts): the digest of its walk now, every
   * change in it settled before the summary was recorded, and the run inputs from it the very
   * rows they were then (none added, replaced, retired or moved to another directory since).
   */
  unchanged(dir: string, digest: string, latestChange: number): boolean {
    const s = this.summaries.get(dir);
    return (
      s !== undefined &&
      s.digest === digest &&
      latestChange < s.recordedAt - RACY_MARGIN_MS &&
      this.summaries.stillHolds(dir, s)
    );
  }

  /**
   * Write what was read, forget the paths a directory given again no longer holds, and sum up the
   * directories walked: a summary is kept only while every current run input from the directory
   * is one of the files its walk found (a current one it lacks is named at each run).
   */
  record(entries: StatEntry[], gone: string[], summaries: DirSummary[] = []): void {
    if (entries.length === 0 && gone.length === 0 && summaries.length === 0) return;
    this.db
      .transaction(() => {
        for (const e of entries) {
          this.s.upsert.run(e.path, e.size, e.mtimeNs, e.ctimeNs, signed(e.ino), signed(e.dev), e.hash, e.recordedAt);
        }
        for (const path of gone) this.s.remove.run(path);
        for (const d of summaries) {
          const { files, ids } = this.summaries.fromSource(d.dir);
          if (files !== d.files) {
            this.s.remove.run(summaryKey(d.dir));
            this.s.dropChunks.run(...chunkRange(d.dir));
            continue;
          }
          this.s.upsert.run(summaryKey(d.dir), files, ids, 0, 0, 0, d.digest, d.recordedAt);
          // Only the chunks that changed: a few files added to a big directory rewrite a few rows.
          const gone = new Set(this.summaries.chunkDigests(d.dir));
          for (let at = 0; at < d.chunks.length; at += 32) {
            const hex = d.chunks.toString('hex', at, at + 32);
            if (!gone.delete(hex)) this.s.upsert.run(`${summaryKey(d.dir)}${hex}`, 0, 0, 0, 0, 0, hex, d.recordedAt);
          }
          for (const hex of gone) this.s.remove.run(`${summaryKey(d.dir)}${hex}`);
        }
      })
      .immediate();
  }
}

/** A path with no NUL in it: a file's, not a summary's (as bytes: SQLite's text functions stop at a NUL). */
const NO_NUL = `instr(CAST(path AS BLOB), x'00') = 0`;

/** The key range of the paths below a directory: `dir/` up to `dir0` ('0' follows '/'). */
function under(dir: string): [string, string] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return [prefix, `${prefix.slice(0, -1)}0`];
}
