import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  entryOf,
  plainStamp,
  sameStamp,
  unchangedSince,
  type Cached,
  type DirSummary,
  type Stamp,
  type StatEntry,
} from '../store/input-cache.js';
import type { InputChanges, RunInputFile } from '../store/metadata-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { DirDigest, stampOf } from '../store/input-summary.js';
import type { CheckedInputs } from './input-check.js';
import { walkFiles, type InputFile } from './input-walk.js';

export { checkInputs, listInputs } from './input-check.js';
export type { InputFile } from './input-walk.js';

/**
 * Files stored, looked up and committed together: a run holds one batch at a time, whatever the
 * number of inputs. TASK_PIPELINE_INGEST_BATCH makes it smaller, for tests of batch boundaries.
 */
const BATCH = Number(process.env.TASK_PIPELINE_INGEST_BATCH) || 4096;

/** Where ingest puts what it finds: run inputs in a batch, and, per directory, the names it no longer holds. */
export interface InputSink {
  /** Add a batch of run inputs (committed, but not looked at for missing names). */
  add(inputs: RunInputFile[]): Promise<InputChanges>;
  /** The current run inputs from `dir` it no longer holds (isFile), knowing that `given` of them were given now. */
  missing(dir: string, given: number, isFile: (path: string) => boolean): string[] | Promise<string[]>;
}

/** The stat cache as ingest uses it: SQLite's InputStatCache (input-cache.ts), or PostgreSQL's (asynchronous). */
export interface StatCache {
  lookup(paths: string[]): Cached[] | Promise<Cached[]>;
  unchanged(dir: string, digest: string, latestChange: number): boolean | Promise<boolean>;
  dropGone(dir: string, walked: number, isFile: (path: string) => boolean): void | Promise<void>;
  record(entries: StatEntry[], gone: string[], summaries?: DirSummary[]): void | Promise<void>;
}

export interface IngestOptions {
  cache: StatCache;
  /** Read and hash every file whatever the cache says, and record them anew. */
  rehash: boolean;
  /** Objects moved out of the store (movedAside): a cache entry naming one must find it back in place. */
  movedAside: Set<string>;
}

export interface IngestCounts {
  changes: InputChanges;
  /** Objects added to the store, and their bytes. */
  added: number;
  bytes: number;
  /** Files read and hashed; the others were known by their stat (or their directory's summary). */
  read: number;
}

/**
 * The hashes of the objects in <db>/damaged/ (named HASH or HASH.N): fsck -repair and a step whose
 * script damaged its input move objects there, and tell the user that giving the input again
 * restores them. One listing per run, instead of a look in the store per file.
 */
export function movedAside(dbDir: string): Set<string> {
  try {
    return new Set(readdirSync(join(dbDir, 'damaged')).map((n) => n.slice(0, 64)));
  } catch {
    return new Set();
  }
}

/**
 * Store the checked -input arguments as objects and add them as run inputs, a batch at a time. A
 * directory whose walk is as its summary says (input-summary.ts) is skipped whole: its files are the
 * run inputs they were. One whose check found only a few files that are not (input-check.ts) is
 * ingested from those few. Else it is walked again: each batch of files stat'ed, looked up in the
 * stat cache (one query), the files it does not vouch for read and stored, the batch's run inputs
 * committed, and only then their cache entries recorded (a crash in between costs a re-read, never
 * a wrong hash). Its digest is taken anew on the way, and recorded once the directory is done.
 */
export async function ingestChecked(
  checked: CheckedInputs,
  store: ObjectStore,
  sink: InputSink,
  o: IngestOptions,
): Promise<IngestCounts> {
  const out: IngestCounts = { changes: { added: 0, replaced: 0, missing: [] }, added: 0, bytes: 0, read: 0 };
  const trust = !o.rehash;
  // An object moved aside is to be found back: only file by file.
  const skipWhole = trust && o.movedAside.size === 0;
  let files: InputFile[] = [];
  const flush = async (stamps: StampSink | null) => {
    if (files.length > 0) await ingestBatch(files, store, sink, o, trust, stamps, out);
    files = [];
  };
  for (const [index, arg] of checked.args.entries()) {
    if (arg.kind === 'file') {
      files.push(arg.file);
      if (files.length >= BATCH) await flush(null);
      continue;
    }
    await flush(null);
    const { dir } = arg;
    if (skipWhole && arg.digest !== null && (await o.cache.unchanged(dir, arg.digest, arg.latest))) {
      // Its listing changed since the summary and came back (files added, then removed): summed up
      // anew, so that the next check does not ask about each file again (input-vouch.ts).
      if (arg.unvouched !== null && !arg.partial)
        await o.cache.record(
          [],
          [],
          [{ dir, digest: arg.digest, chunks: arg.chunks, files: arg.given, recordedAt: arg.recordedAt }],
        );
      continue;
    }
    let summary: DirSummary | null = null;
    let given = arg.given;
    if (skipWhole && arg.unvouched !== null) {
      // The check's stats are the digest's: each file read must still have the stat it had then.
      const same = new SameStamps(arg.unvouched);
      for (const { file } of arg.unvouched) {
        files.push(file);
        if (files.length >= BATCH) await flush(same);
      }
      await flush(same);
      if (arg.digest !== null && !arg.partial && !same.spoiled && !Number.isNaN(arg.latest))
        summary = { dir, digest: arg.digest, chunks: arg.chunks, files: given, recordedAt: arg.recordedAt };
    } else {
      // Before the first stat: a change after this moment shows in a stat, or within the racy margin.
      const recordedAt = Date.now();
      const digest = new DirDigest();
      given = 0;
      for (const f of walkFiles(dir, '', dir)) {
        // Given already by an earlier argument under this name: not given twice, and not summed up.
        if (checked.skip.has(`${index}\0${f.name}`)) {
          digest.spoil();
          continue;
        }
        files.push(f);
        given++;
        if (files.length >= BATCH) await flush(digest);
      }
      await flush(digest);
      if (!Number.isNaN(digest.latest))
        summary = { dir, digest: digest.digest(), chunks: digest.chunks(), files: given, recordedAt };
    }
    out.changes.missing.push(...(await sink.missing(dir, given, isFile)));
    await o.cache.dropGone(dir, given, isFile);
    if (summary !== null) await o.cache.record([], [], [summary]);
  }
  await flush(null);
  return out;
}

/** What a batch tells about the stats of the files it reads (a directory's digest, or SameStamps). */
interface StampSink {
  add(name: string, st: Stamp): void;
  spoil(): void;
}

/** The files of a directory that its check stat'ed, each expected to be read with that same stat. */
class SameStamps implements StampSink {
  private readonly stamps = new Map<string, Stamp | null>();
  spoiled = false;

  constructor(files: { file: InputFile; stamp: Stamp | null }[]) {
    for (const f of files) this.stamps.set(f.file.name, f.stamp);
  }

  add(name: string, st: Stamp): void {
    const was = this.stamps.get(name);
    if (!was || !sameStamp(was, st)) this.spoiled = true;
  }

  spoil(): void {
    this.spoiled = true;
  }
}

const isFile = (path: string) => statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;

/**
 * One batch: plain stats, one cache query, a read of each file it does not vouch for (with the
 * objects still in place), the run inputs committed, then the entries of what was read recorded.
 */
async function ingestBatch(
  files: InputFile[],
  store: ObjectStore,
  sink: InputSink,
  o: IngestOptions,
  trust: boolean,
  digest: StampSink | null,
  out: IngestCounts,
): Promise<void> {
  const aside = o.movedAside;
  const inPlace = (hash: string) => aside.size === 0 || !aside.has(hash) || existsSync(store.pathOf(hash));
  // Follows a symlink, as the read does.
  const stats: (Stamp | undefined)[] = files.map((f) => {
    const st = statSync(f.path, { throwIfNoEntry: false });
    return st && plainStamp(st);
  });
  const found: (RunInputFile | undefined)[] = new Array(files.length);
  if (trust) {
    for (const entry of await o.cache.lookup(files.map((f) => f.path))) {
      const k = entry[0];
      const st = stats[k];
      const f = files[k]!;
      if (st !== undefined && unchangedSince(entry, st) && inPlace(entry[6]))
        found[k] = { name: f.name, hash: entry[6], size: st.size, source: f.source };
    }
  }
  const fresh: StatEntry[] = [];
  const inputs: RunInputFile[] = [];
  for (const [k, f] of files.entries()) {
    let input = found[k];
    if (input === undefined) {
      // Before the stat: a change after this moment shows in the stat, or within the racy margin.
      const recordedAt = Date.now();
      const stamp = statSync(f.path, { bigint: true });
      const put = await store.ingest(f.path);
      out.read++;
      if (put.added) {
        out.added++;
        out.bytes += put.size;
      }
      input = { name: f.name, hash: put.hash, size: put.size, source: f.source };
      // Bytes read that the stat does not describe (it grew or shrank meanwhile): nothing to vouch for.
      if (BigInt(put.size) === stamp.size) {
        fresh.push(entryOf(f.path, stamp, put.hash, recordedAt));
        digest?.add(f.name, stampOf(stamp));
      } else {
        digest?.spoil();
      }
    } else {
      digest?.add(f.name, stats[k]!);
    }
    inputs.push(input);
  }
  const changes = await sink.add(inputs);
  out.changes.added += changes.added;
  out.changes.replaced += changes.replaced;
  // Only now that run inputs name the objects: a crash before costs a re-read, never a wrong hash.
  await o.cache.record(fresh, [], []);
}
