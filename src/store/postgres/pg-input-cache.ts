import { RACY_MARGIN_MS, SETTLED, type Cached, type DirSummary, type StatEntry } from '../input-cache.js';
import { hashBytes, type PgDb } from './pg-db.js';

/** Paths looked at a page at a time when a directory's entries are compared with its files. */
const PAGE = 4096;

/**
 * Node's milliseconds of a time stored in ns, as a plain stat makes them (`sec * 1e3 + nsec / 1e6`,
 * in doubles): the same operations give the same double, so an unchanged time compares equal.
 */
const ms = (sec: string, nsec: string) => Number(sec) * 1e3 + Number(nsec) / 1e6;
/** Inode and device numbers are unsigned 64-bit, stored wrapped in a signed bigint (as on SQLite). */
const TOP = 1n << 63n;
const signed = (v: bigint) => (v < TOP ? v : BigInt.asIntN(64, v)).toString();
const unsigned = (v: string) => (v.startsWith('-') ? Number(v) + 2 ** 64 : Number(v));

/** The current run inputs found under a directory argument: how many, and the sum of their ids. */
const FROM_SOURCE = `SELECT count(*) AS n, coalesce(sum(id), 0) AS ids FROM run_input WHERE source = $1 AND retired_at IS NULL`;

/**
 * The stat cache of run inputs on PostgreSQL: the rules and the uses of SQLite's (input-cache.ts), in
 * table input_stat, and the directory summaries (input-summary.ts) in input_dir_summary. An entry
 * names an object row (a foreign key): when gc deletes the row, the entry goes with it, so an entry
 * never vouches for an object that left the store. A stale entry costs a re-read, never a wrong hash.
 */
export class PgInputStatCache {
  constructor(private readonly db: PgDb) {}

  /** The entries that may vouch for these paths (one query), each with its path's index. */
  async lookup(paths: string[]): Promise<Cached[]> {
    const rows = await this.db.query<Record<string, string>>(
      `SELECT j.k - 1 AS k, c.size, c.mtime_ns / 1000000000 AS ms, c.mtime_ns % 1000000000 AS mn,
              c.ctime_ns / 1000000000 AS cs, c.ctime_ns % 1000000000 AS cn, c.ino, c.dev,
              encode(c.object_hash, 'hex') AS hash
         FROM unnest($1::text[]) WITH ORDINALITY AS j(path, k) JOIN input_stat c ON c.path = j.path
        WHERE ${SETTLED}`,
      [paths],
    );
    return rows.map(
      (r) =>
        [
          Number(r.k),
          Number(r.size),
          ms(r.ms!, r.mn!),
          ms(r.cs!, r.cn!),
          unsigned(r.ino!),
          unsigned(r.dev!),
          r.hash!,
        ] as const,
    );
  }

  /**
   * The directory is as its summary says: the digest of its walk now, every change in it settled
   * before the summary was recorded, and the run inputs from it the very rows they were then.
   */
  async unchanged(dir: string, digest: string, latestChange: number): Promise<boolean> {
    const r = await this.db.query<{ same: boolean }>(
      `SELECT s.digest = $2 AND $3::float8 < s.recorded_at - ${RACY_MARGIN_MS} AND s.files = f.n AND s.ids = f.ids AS same
         FROM input_dir_summary s, (${FROM_SOURCE}) f WHERE s.dir = $1`,
      [dir, hashBytes(digest), latestChange],
    );
    return r[0]?.same === true;
  }

  /** Drop the entries below a directory whose files are gone, when it holds more than its walk met. */
  async dropGone(dir: string, walked: number, isFile: (path: string) => boolean): Promise<void> {
    const [from, to] = under(dir);
    const n = await this.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM input_stat WHERE path >= $1 AND path < $2`,
      [from, to],
    );
    if (Number(n[0]!.n) <= walked) return;
    // A page at a time: the paths below it are never all in memory, only those gone.
    const gone: string[] = [];
    for (let after = ''; ;) {
      const page = await this.db.query<{ path: string }>(
        `SELECT path FROM input_stat WHERE path >= $1 AND path < $2 AND path > $3 ORDER BY path LIMIT ${PAGE}`,
        [from, to, after],
      );
      for (const { path } of page) if (!isFile(path)) gone.push(path);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.path;
    }
    await this.record([], gone);
  }

  /** Write what was read, forget the paths gone, and sum up the directories walked (see input-cache.ts). */
  async record(entries: StatEntry[], gone: string[], summaries: DirSummary[] = []): Promise<void> {
    if (entries.length === 0 && gone.length === 0 && summaries.length === 0) return;
    await this.db.tx(async (sql) => {
      if (entries.length > 0) {
        const col = (f: (e: StatEntry) => string) => entries.map(f);
        await sql.query(
          `INSERT INTO input_stat(path, size, mtime_ns, ctime_ns, ino, dev, object_hash, recorded_at)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
                                $7::bytea[], $8::bigint[])
           ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
             ctime_ns = excluded.ctime_ns, ino = excluded.ino, dev = excluded.dev,
             object_hash = excluded.object_hash, recorded_at = excluded.recorded_at`,
          [
            col((e) => e.path),
            col((e) => e.size.toString()),
            col((e) => e.mtimeNs.toString()),
            col((e) => e.ctimeNs.toString()),
            col((e) => signed(e.ino)),
            col((e) => signed(e.dev)),
            entries.map((e) => hashBytes(e.hash)),
            col((e) => String(e.recordedAt)),
          ],
        );
      }
      if (gone.length > 0) await sql.query(`DELETE FROM input_stat WHERE path = ANY($1::text[])`, [gone]);
      for (const d of summaries) {
        // Kept only while every current run input from the directory is one of the files its walk found.
        await sql.query(`DELETE FROM input_dir_summary WHERE dir = $1`, [d.dir]);
        await sql.query(
          `INSERT INTO input_dir_summary(dir, digest, files, ids, recorded_at)
           SELECT $1, $2, f.n, f.ids, $4 FROM (${FROM_SOURCE}) f WHERE f.n = $3`,
          [d.dir, hashBytes(d.digest), d.files, d.recordedAt],
        );
      }
    });
  }
}

/**
 * The current run inputs from a directory that it no longer holds, knowing that `given` of its files
 * were given just now (each current under it since): there are others only when it has more current
 * rows. Those are paged through and looked for on disk.
 */
export async function missingFrom(
  db: PgDb,
  dir: string,
  given: number,
  isFile: (path: string) => boolean,
): Promise<string[]> {
  const n = await db.query<{ n: string }>(FROM_SOURCE, [dir]);
  if (Number(n[0]!.n) <= given) return [];
  const base = dir.endsWith('/') ? dir : `${dir}/`;
  const missing: string[] = [];
  for (let after = 0; ;) {
    const page = await db.query<{ id: string; name: string }>(
      `SELECT id, name FROM run_input WHERE source = $1 AND retired_at IS NULL AND id > $2 ORDER BY id LIMIT ${PAGE}`,
      [dir, after],
    );
    for (const r of page) if (!isFile(base + r.name)) missing.push(r.name);
    if (page.length < PAGE) break;
    after = Number(page[page.length - 1]!.id);
  }
  return missing;
}

/** The key range of the paths below a directory: `dir/` up to `dir0` ('0' follows '/'; byte order, COLLATE "C"). */
function under(dir: string): [string, string] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return [prefix, `${prefix.slice(0, -1)}0`];
}
