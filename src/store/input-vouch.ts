import type Database from 'better-sqlite3';
import { UserError } from '../errors.js';
import { openDatabase } from './database.js';
import { statSync } from 'node:fs';
import { DirSummaries } from './dir-summaries.js';
import { msOfNs, RACY_MARGIN_MS, SETTLED, unchangedSince, unwrapped, type Stamp } from './input-cache.js';
import type { Chunk } from './input-summary.js';

type Row = [index: number, size: number, mtimeMs: number, ctimeMs: number, ino: number, dev: number];

/**
 * Which files of a directory given again are already the current run inputs they would become:
 * a stat cache entry, settled, with the file's stat now, for an object that is the current run
 * input of that name from that very directory. Such a file needs nothing (no read, no row); the
 * others are the few a re-run has to look at. Asked while the input arguments are checked, before
 * the run writes anything, so it reads through its own read-only connection (the run holds the
 * lock, so nothing changes the rows in between). A db of an older schema vouches for nothing.
 */
export class InputVouch {
  private readonly query;
  private readonly summaries;

  private constructor(private readonly db: Database.Database) {
    // One probe of input_stat's key and one of idx_run_input_current per name; numbers only.
    this.query = db
      .prepare(
        `SELECT j.key, c.size, ${msOfNs('c.mtime_ns')}, ${msOfNs('c.ctime_ns')}, c.ino, c.dev FROM json_each(?) j
         CROSS JOIN input_stat c ON c.path = ? || j.value
         CROSS JOIN run_input r ON r.name = j.value AND r.retired_at IS NULL
         WHERE r.source = ? AND r.object_hash = c.object_hash AND ${SETTLED}`,
      )
      .raw(true);
    this.summaries = new DirSummaries(db);
  }

  /**
   * The chunks of the directory's summary (input-summary.ts), to vouch for a chunk of its walk now
   * whole: null when it has no summary, or the run inputs from it are no longer the rows they were
   * when it was recorded (one added, replaced, retired or moved to another directory since). Else
   * each file of the summary was then the current run input of its name from this directory, with
   * the bytes that its stat describes, and is so still: a chunk of the same digest, every change in
   * it settled before the summary was recorded, needs nothing.
   */
  chunks(dir: string): ((chunk: Chunk) => boolean) | null {
    const s = this.summaries.get(dir);
    if (s === undefined || !this.summaries.stillHolds(dir, s)) return null;
    const known = new Set(this.summaries.chunkDigests(dir));
    const before = s.recordedAt - RACY_MARGIN_MS;
    return (chunk) => chunk.latest < before && known.has(chunk.digest);
  }

  /**
   * Whether asking about each file is worth its query: the directory has no summary, or files were
   * added to it, removed or renamed since its summary was recorded (its own mtime moved). Else it is
   * most likely unchanged, which its summary tells without a query per file (and, if a file in it
   * was edited, ingest compares it file by file). A choice of speed only: either way is exact.
   */
  worthAsking(dir: string): boolean {
    const at = this.summaries.get(dir)?.recordedAt;
    const st = statSync(dir, { throwIfNoEntry: false });
    return at === undefined || !st || Math.max(st.mtimeMs, st.ctimeMs) >= at - RACY_MARGIN_MS;
  }

  /** How many files the directory's summary counted, if it has one. */
  summedFiles(dir: string): number | undefined {
    return this.summaries.get(dir)?.files;
  }

  /** For an existing db of the current schema; null when there is nothing to vouch with. */
  static open(dbDir: string): InputVouch | null {
    try {
      return new InputVouch(openDatabase(dbDir));
    } catch (err) {
      // An older schema is migrated by the run; a newer one is refused by its own open.
      if (err instanceof UserError && err.code === 'ESCHEMA') return null;
      throw err;
    }
  }

  /** Of these files of `dir` (names relative to it, with their stats now), the indices that need nothing. */
  current(dir: string, names: string[], stamps: Stamp[]): Set<number> {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`;
    const ok = new Set<number>();
    for (const r of unwrapped(this.query.all(JSON.stringify(names), prefix, dir) as Row[]))
      if (unchangedSince(r, stamps[r[0]]!)) ok.add(r[0]);
    return ok;
  }

  close(): void {
    this.db.close();
  }
}
