import type Database from 'better-sqlite3';

/**
 * A change this close before an entry was recorded may be invisible to a later stat. Timestamps
 * come from a clock that advances in ticks (a few ms on Linux, 1 s on some filesystems, 2 s for a
 * FAT mtime): a write landing in the tick of the stat we cached leaves size, mtime, ctime and
 * inode as they were. So an entry vouches for a file only if both its mtime and its ctime are
 * older than the moment the entry was recorded by more than any tick (git's "racy" entries).
 */
export const RACY_MARGIN_MS = 2000;

/** What a stat says of a file's identity and last change; all that the cache compares. A BigIntStats is one. */
export interface FileStamp {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** The same times in whole ms: enough for the racy rule, and compared with a number without a BigInt made. */
  mtimeMs: bigint;
  ctimeMs: bigint;
  ino: bigint;
  dev: bigint;
}

export interface StatEntry extends Omit<FileStamp, 'mtimeMs' | 'ctimeMs'> {
  /** The file's absolute path, as found by the walk. */
  path: string;
  hash: string;
  /** Date.now() taken before the stat: any change after it shows in the stat, or falls in the margin. */
  recordedAt: number;
}

/**
 * Inode and device numbers are unsigned 64-bit; SQLite's integers are signed: stored wrapped. A
 * BigInt is made only for the rare number at or above 2^63.
 */
const TOP = 1n << 63n;
const signed = (v: bigint) => (v < TOP ? v : BigInt.asIntN(64, v));
const unsigned = (v: bigint) => (v >= 0n ? v : BigInt.asUintN(64, v));

/** The entry to record for a file read with this stat. */
export function entryOf(path: string, st: FileStamp, hash: string, recordedAt: number): StatEntry {
  return { path, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, dev: st.dev, hash, recordedAt };
}

/**
 * The entry still names the file's bytes: the same stat, recorded safely after the file's last
 * change. Whole ms suffice for the margin: mtimeMs < S implies mtimeNs < S ms (Node rounds
 * towards zero, down for any time after 1970, up before it).
 */
export function unchangedSince(entry: StatEntry, now: FileStamp): boolean {
  if (entry.size !== now.size || entry.mtimeNs !== now.mtimeNs || entry.ctimeNs !== now.ctimeNs) return false;
  if (entry.ino !== now.ino || entry.dev !== now.dev) return false;
  const settled = entry.recordedAt - RACY_MARGIN_MS;
  return now.mtimeMs < settled && now.ctimeMs < settled;
}

/**
 * The stat cache of run inputs (table input_stat): per path, the stat it had when it was read and
 * the hash of what was read. A row is written only after its object is stored and the run input
 * naming it committed, and is used only while its object is in the store (see lookup, and
 * movedAside in ingest.ts): a stale or orphaned row can cost a re-read, never a wrong hash.
 */
export class InputStatCache {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      // From the paths asked, one probe of each primary key per path (CROSS JOIN fixes the order).
      // A row whose object row is gone (gc deleted it, and then the file) is no row. Raw rows: a
      // row object per path costs more than the query.
      lookup: p(`SELECT j.key, c.size, c.mtime_ns, c.ctime_ns, c.ino, c.dev, lower(hex(c.object_hash)), c.recorded_at
                   FROM json_each(?) j CROSS JOIN input_stat c ON c.path = j.value
                   CROSS JOIN object o ON o.hash = c.object_hash`)
        .safeIntegers(true)
        .raw(true),
      upsert: p(`INSERT INTO input_stat(path, size, mtime_ns, ctime_ns, ino, dev, object_hash, recorded_at)
                 VALUES (?, ?, ?, ?, ?, ?, unhex(?), ?)
                 ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
                   ctime_ns = excluded.ctime_ns, ino = excluded.ino, dev = excluded.dev,
                   object_hash = excluded.object_hash, recorded_at = excluded.recorded_at`),
      countUnder: p(`SELECT count(*) FROM input_stat WHERE path >= ? AND path < ?`).pluck(),
      pathsUnder: p(`SELECT path FROM input_stat WHERE path >= ? AND path < ?`).pluck(),
      remove: p(`DELETE FROM input_stat WHERE path = ?`),
    };
  }

  /** The entries of these paths (one query), at their positions. */
  lookup(paths: string[]): (StatEntry | undefined)[] {
    const found: (StatEntry | undefined)[] = new Array(paths.length);
    for (const r of this.s.lookup.all(JSON.stringify(paths)) as [
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
      string,
      bigint,
    ][]) {
      const k = Number(r[0]);
      found[k] = {
        path: paths[k]!,
        size: r[1],
        mtimeNs: r[2],
        ctimeNs: r[3],
        ino: unsigned(r[4]),
        dev: unsigned(r[5]),
        hash: r[6],
        recordedAt: Number(r[7]),
      };
    }
    return found;
  }

  /**
   * Write what was read, and forget the files a directory given again no longer holds. `walked`
   * is, per directory argument, how many files its walk found (all of which have entries now).
   */
  record(entries: StatEntry[], walked: Map<string, number>, walkedPaths: () => Set<string>): void {
    if (entries.length === 0 && walked.size === 0) return;
    this.db
      .transaction(() => {
        for (const e of entries) {
          this.s.upsert.run(e.path, e.size, e.mtimeNs, e.ctimeNs, signed(e.ino), signed(e.dev), e.hash, e.recordedAt);
        }
        let paths: Set<string> | undefined;
        for (const [dir, files] of walked) {
          const range = under(dir);
          if ((this.s.countUnder.get(...range) as number) <= files) continue;
          paths ??= walkedPaths();
          for (const p of this.s.pathsUnder.all(...range) as string[]) if (!paths.has(p)) this.s.remove.run(p);
        }
      })
      .immediate();
  }
}

/** The key range of the paths below a directory: `dir/` up to `dir0` ('0' follows '/'). */
function under(dir: string): [string, string] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return [prefix, `${prefix.slice(0, -1)}0`];
}
