import type Database from 'better-sqlite3';
import type { BigIntStats } from 'node:fs';

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
 * size and inode, could compare equal, but any write after an entry was recorded moves the ctime
 * past the racy margin (unchangedSince), and that alone refuses the entry.
 */
export interface Stamp {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
}

/** A cache entry as looked up: the stamp recorded, what was read, and when. */
export interface Cached extends Stamp {
  hash: string;
  /** Date.now() taken before the stat: any change after it shows in the stat, or falls in the margin. */
  recordedAt: number;
  /** Its object has its row (gc deletes an object's row before its file): else the entry vouches for nothing. */
  stored: boolean;
  /** Set by the caller once a walk met its path: the entries of a directory not met are dropped (record). */
  met: boolean;
}

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
const unsignedNumber = (v: number) => (v >= 0 ? v : v + 2 ** 64);

/** The entry to record for a file read with this (bigint) stat. */
export function entryOf(path: string, st: BigIntStats, hash: string, recordedAt: number): StatEntry {
  return { path, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, dev: st.dev, hash, recordedAt };
}

/**
 * The entry still names the file's bytes: the same stat, recorded safely after the file's last
 * change. `mtimeMs < S` for a whole S implies a time before S ms: the double is the true time
 * rounded to nearest, and S itself is a double.
 */
export function unchangedSince(entry: Cached, now: Stamp): boolean {
  if (entry.size !== now.size || entry.mtimeMs !== now.mtimeMs || entry.ctimeMs !== now.ctimeMs) return false;
  if (entry.ino !== now.ino || entry.dev !== now.dev) return false;
  const settled = entry.recordedAt - RACY_MARGIN_MS;
  return now.mtimeMs < settled && now.ctimeMs < settled;
}

/** Node's milliseconds of a time stored in ns (the same operations, so the same double). Before 1970 it differs: a read. */
const ms = (col: string) => `(${col} / 1000000000) * 1000.0 + (${col} % 1000000000) / 1000000.0`;
const COLUMNS = `c.path, c.size, ${ms('c.mtime_ns')}, ${ms('c.ctime_ns')}, c.ino, c.dev, c.object_hash, c.recorded_at,
                 EXISTS (SELECT 1 FROM object o WHERE o.hash = c.object_hash)`;
type Row = [string, number, number, number, number, number, string, number, number];

/**
 * The stat cache of run inputs (table input_stat): per path, the stat it had when it was read and
 * the hash of what was read. A row is written only after its object is stored and the run input
 * naming it committed, and is used only while its object is in the store (`stored`, and movedAside
 * in ingest.ts): a stale or orphaned row can cost a re-read, never a wrong hash.
 */
export class InputStatCache {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    const p = (sql: string) => db.prepare(sql).raw(true);
    this.s = {
      // Raw rows of numbers: no row object, no BigInt per path.
      under: p(`SELECT ${COLUMNS} FROM input_stat c WHERE c.path >= ? AND c.path < ?`),
      lookup: p(`SELECT ${COLUMNS} FROM json_each(?) j CROSS JOIN input_stat c ON c.path = j.value`),
      upsert: db.prepare(`INSERT INTO input_stat(path, size, mtime_ns, ctime_ns, ino, dev, object_hash, recorded_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
                   ctime_ns = excluded.ctime_ns, ino = excluded.ino, dev = excluded.dev,
                   object_hash = excluded.object_hash, recorded_at = excluded.recorded_at`),
      remove: db.prepare(`DELETE FROM input_stat WHERE path = ?`),
    };
  }

  /**
   * The entries of every file below these directories (one range scan each) and of these files,
   * by path: the walk then compares in one pass, without a query per file.
   */
  load(dirs: Iterable<string>, files: string[]): Map<string, Cached> {
    const found = new Map<string, Cached>();
    const add = (rows: Row[]) => {
      for (const r of rows)
        found.set(r[0], {
          size: r[1],
          mtimeMs: r[2],
          ctimeMs: r[3],
          ino: unsignedNumber(r[4]),
          dev: unsignedNumber(r[5]),
          hash: r[6],
          recordedAt: r[7],
          stored: r[8] === 1,
          met: false,
        });
    };
    for (const dir of dirs) add(this.s.under.all(...under(dir)) as Row[]);
    if (files.length > 0) add(this.s.lookup.all(JSON.stringify(files)) as Row[]);
    return found;
  }

  /** Write what was read, and forget the paths a directory given again no longer holds. */
  record(entries: StatEntry[], gone: string[]): void {
    if (entries.length === 0 && gone.length === 0) return;
    this.db
      .transaction(() => {
        for (const e of entries) {
          this.s.upsert.run(e.path, e.size, e.mtimeNs, e.ctimeNs, signed(e.ino), signed(e.dev), e.hash, e.recordedAt);
        }
        for (const path of gone) this.s.remove.run(path);
      })
      .immediate();
  }
}

/** The key range of the paths below a directory: `dir/` up to `dir0` ('0' follows '/'). */
function under(dir: string): [string, string] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return [prefix, `${prefix.slice(0, -1)}0`];
}
