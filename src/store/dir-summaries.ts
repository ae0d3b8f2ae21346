import type Database from 'better-sqlite3';

/**
 * A directory given with -input is summed up in rows of the stat cache's table (input_stat): its
 * summary, under a key no file has, and its chunks (input-summary.ts). The keys and the reads.
 */

/** What a run found in a directory given (input-summary.ts), to sum it up once its run inputs are committed. */
export interface DirSummary {
  dir: string;
  digest: string;
  /** How many files its walk found. */
  files: number;
  /** Date.now() before the first of their stats. */
  recordedAt: number;
  /** The digests of its chunks (input-summary.ts), 32 bytes each, end to end. */
  chunks: Buffer;
}

/** A directory's summary row, as read back. */
export interface StoredSummary {
  digest: string;
  files: number;
  /** The sum of the ids of the run inputs from it when it was recorded. */
  ids: number;
  recordedAt: number;
}

/**
 * Directory summaries as the stat cache (input-cache.ts) and the check of -input arguments (input-vouch.ts,
 * through its own read-only connection) read them.
 */
export class DirSummaries {
  private readonly s;

  constructor(db: Database.Database) {
    this.s = {
      summary: db
        .prepare(`SELECT lower(hex(object_hash)), size, mtime_ns, recorded_at FROM input_stat WHERE path = ?`)
        .raw(true),
      fromSource: db
        .prepare(`SELECT count(*), coalesce(sum(id), 0) FROM run_input WHERE source = ? AND retired_at IS NULL`)
        .raw(true),
      chunkDigests: db.prepare(`SELECT lower(hex(object_hash)) FROM input_stat WHERE path > ? AND path < ?`).pluck(),
    };
  }

  get(dir: string): StoredSummary | undefined {
    const r = this.s.summary.get(summaryKey(dir)) as [string, number, number, number] | undefined;
    return r && { digest: r[0], files: r[1], ids: r[2], recordedAt: r[3] };
  }

  /** The current run inputs from a directory: how many, and the sum of their ids. */
  fromSource(dir: string): { files: number; ids: number } {
    const [files, ids] = this.s.fromSource.get(dir) as [number, number];
    return { files, ids };
  }

  /** The run inputs from the directory are the very rows they were when its summary was recorded. */
  stillHolds(dir: string, s: StoredSummary): boolean {
    const now = this.fromSource(dir);
    return now.files === s.files && now.ids === s.ids;
  }

  /** The digests (hex) of its summary's chunks. */
  chunkDigests(dir: string): string[] {
    return this.s.chunkDigests.all(...chunkRange(dir)) as string[];
  }
}

/**
 * A directory's summary is a row of this table too, under a key no file has (its path and a NUL):
 * object_hash holds the digest of its walk, size its number of files, mtime_ns the sum of the ids
 * of the run inputs from it. Not an object's hash: gc drops it with the other orphans, and the next
 * run compares file by file, and sums up again.
 */
export const summaryKey = (dir: string) => `${dir}\0`;

/**
 * The summary's chunks are rows too, keyed by the summary's key and the chunk's digest (hex), and
 * written with it, in one transaction: object_hash holds the chunk's digest. This is their key range.
 */
export const chunkRange = (dir: string): [string, string] => [summaryKey(dir), `${dir}\u0001`];
