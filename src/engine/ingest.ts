import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import {
  entryOf,
  unchangedSince,
  type DirSummary,
  type InputStatCache,
  type Stamp,
  type StatEntry,
} from '../store/input-cache.js';
import type { RunInputFile } from '../store/metadata-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { digestOf, latestChange, putStamp, sourceRanges, type SourceRange } from '../store/input-summary.js';
import { STAMP_WIDTH, StatMany, WORKER_MIN_PATHS } from '../store/stat-many.js';

export interface InputFile {
  path: string;
  name: string;
  /** The directory argument it was found under (absolute), or null for a file argument. */
  source: string | null;
}

/**
 * Expand -input arguments: a file is named by its own basename, a directory's files by
 * their path relative to it (walked recursively). Checked before the db is touched, so a
 * typo in a path, or two files claiming one name, writes nothing.
 */
export function listInputs(args: string[]): InputFile[] {
  const files: InputFile[] = [];
  for (const arg of args) {
    const st = statSync(arg, { throwIfNoEntry: false });
    if (!st) throw new UserError('ENOINPUT', `-input ${arg}: no such file or directory`);
    if (st.isFile()) files.push({ path: resolve(arg), name: basename(resolve(arg)), source: null });
    else if (st.isDirectory()) walk(resolve(arg), '', resolve(arg), files);
    else throw new UserError('EBADINPUT', `-input ${arg}: not a regular file or directory`);
  }
  for (const f of files) {
    // A listing line is HASH<TAB>NAME<TAB>FROM: a name cannot hold either separator.
    if (/[\t\n]/.test(f.name)) {
      throw new UserError(
        'EBADINPUT',
        `-input ${f.path}: a name with a tab or newline cannot be an input (${JSON.stringify(f.name)}); rename the file`,
      );
    }
  }
  // One argument's names are distinct paths: only two arguments can claim a name twice.
  if (args.length < 2) return files;
  const byName = new Map<string, string>();
  const unique: InputFile[] = [];
  for (const f of files) {
    const other = byName.get(f.name);
    if (other !== undefined && other !== f.path) {
      throw new UserError(
        'EBADINPUT',
        `-input: two files would both be the input named "${f.name}": ${other} and ${f.path}; give them in separate runs (the later replaces the earlier) or rename one`,
      );
    }
    // The same file given twice is one input.
    if (other !== undefined) continue;
    byName.set(f.name, f.path);
    unique.push(f);
  }
  return unique;
}

function walk(dir: string, prefix: string, source: string, files: InputFile[]): void {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  // Paths by concatenation: path.join per entry adds up over 50,000 files.
  const base = dir.endsWith('/') ? dir : `${dir}/`;
  for (const e of entries) {
    const name = prefix === '' ? e.name : `${prefix}/${e.name}`;
    const path = base + e.name;
    // The listing's type spares a stat per entry; only a symlink needs one, to know what it points at.
    if (e.isDirectory()) walk(path, name, source, files);
    else if (e.isFile() || (e.isSymbolicLink() && statSync(path, { throwIfNoEntry: false })?.isFile()))
      files.push({ path, name, source });
  }
}

export interface IngestOptions {
  /** The stat cache; null reads every file (and records nothing). */
  cache: InputStatCache | null;
  /** Read and hash every file whatever the cache says, and record them anew. */
  rehash: boolean;
  /** Objects moved out of the store (movedAside): a cache entry naming one must find it back in place. */
  movedAside: Set<string>;
  /** The files' stats, started already (statInputs); else taken here. */
  stamps?: (() => Promise<Stamps | null>) | null;
}

export interface Ingested {
  inputs: RunInputFile[];
  /** Objects added to the store, and their bytes. */
  added: number;
  bytes: number;
  /** Files read and hashed; the others were known by their stat. */
  read: number;
  /** What was read, for the cache: to record once the run inputs naming these objects are committed. */
  fresh: StatEntry[];
  /** Cached paths below a directory given that its walk did not meet: their entries go (rememberInputs). */
  gone: string[];
  /** The directories walked file by file, summed up (input-summary.ts). */
  summaries: DirSummary[];
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

/** Files looked up in the cache together: one query each. */
const BATCH = 4096;

/** The plain stats of the input files (stat-many.ts), and Date.now() before the first of them. */
export interface Stamps {
  stamps: Float64Array;
  at: number;
}

/**
 * Start a plain stat of every input file on a worker thread when they are many (stat-many.ts), so
 * that it runs while the caller opens the db and plans: null when they are few (ingestInputs then
 * stats them itself, as it does if the worker cannot run).
 */
export function statInputs(files: InputFile[]): (() => Promise<Stamps | null>) | null {
  if (files.length < WORKER_MIN_PATHS) return null;
  const at = Date.now();
  let job: StatMany;
  try {
    job = new StatMany(files.map((f) => f.path));
  } catch {
    return null;
  }
  return () =>
    job.finish().then(
      (stamps) => ({ stamps, at }),
      () => null,
    );
}

/**
 * Store every input file as an object (streamed, hashed, deduplicated), except those the stat
 * cache vouches for: the same stat as when they were last read, recorded safely after their
 * last change (input-cache.ts), and their object still in the store: gc drops the entries of
 * what it deletes, and an object moved aside is looked for. One deleted by hand is not noticed:
 * -rehash puts it back.
 *
 * A directory whose walk is as its summary says (input-summary.ts) is skipped whole: its files are
 * the run inputs they were. Else its files are looked up a batch at a time, the cache answering in
 * their order with numbers that compare with a plain stat's: no BigInt or Stats object per file.
 * A bigint stat is taken only of a file about to be read, whose entry must record its times to the ns.
 */
export async function ingestInputs(files: InputFile[], store: ObjectStore, options: IngestOptions): Promise<Ingested> {
  const out: Ingested = { inputs: [], added: 0, bytes: 0, read: 0, fresh: [], gone: [], summaries: [] };
  const { cache, movedAside: aside } = options;
  const inPlace = (hash: string) => aside.size === 0 || !aside.has(hash) || existsSync(store.pathOf(hash));
  const trust = cache !== null && !options.rehash;
  const taken = trust && options.stamps ? await options.stamps() : null;
  const stamps = taken?.stamps ?? null;
  const names = stamps ? files.map((f) => f.name) : [];
  const dirs = sourceRanges(files);
  // An object moved aside is to be found back: only file by file.
  const skip = (d: SourceRange) =>
    stamps !== null &&
    aside.size === 0 &&
    cache!.unchanged(d.dir, digestOf(names, stamps, d.from, d.to), latestChange(stamps, d.from, d.to));
  const walked = dirs.filter((d) => !skip(d));
  const todo: number[] = [];
  const skipped = new Uint8Array(files.length);
  for (const d of dirs) if (!walked.includes(d)) skipped.fill(1, d.from, d.to);
  for (let k = 0; k < files.length; k++) if (skipped[k] === 0) todo.push(k);
  const found: (RunInputFile | undefined)[] = new Array(files.length);
  /** Per directory given: its files that have a usable entry (to tell whether it holds entries of files gone). */
  const hits = new Map<string, number>();
  for (let at = 0; trust && at < todo.length; at += BATCH) {
    const batch = todo.slice(at, at + BATCH);
    for (const entry of cache.lookup(batch.map((k) => files[k]!.path))) {
      const k = batch[entry[0]]!;
      const f = files[k]!;
      if (f.source !== null) hits.set(f.source, (hits.get(f.source) ?? 0) + 1);
      // Follows a symlink, as the read would.
      const st = stamps !== null && !Number.isNaN(stamps[k * STAMP_WIDTH]) ? stampAt(stamps, k) : statSync(f.path);
      if (unchangedSince(entry, st) && inPlace(entry[6]))
        found[k] = { name: f.name, hash: entry[6], size: st.size, source: f.source };
    }
  }
  for (const k of todo) {
    const f = files[k]!;
    if (found[k] === undefined) found[k] = await readOne(f, k, store, cache, stamps, out);
    out.inputs.push(found[k]!);
  }
  if (cache) {
    out.gone = goneFrom(cache, walked, files, hits);
    if (taken) out.summaries = summedUp(walked, names, taken);
  }
  return out;
}

/** Read and store one file, and note what its entry in the cache is to be. */
async function readOne(
  f: InputFile,
  k: number,
  store: ObjectStore,
  cache: InputStatCache | null,
  stamps: Float64Array | null,
  out: Ingested,
): Promise<RunInputFile> {
  // Before the stat: a change after this moment shows in the stat, or within the racy margin.
  const recordedAt = Date.now();
  const stamp = statSync(f.path, { bigint: true });
  const put = await store.ingest(f.path);
  out.read++;
  if (put.added) {
    out.added++;
    out.bytes += put.size;
  }
  // Bytes read that the stat does not describe (it grew or shrank meanwhile): nothing to vouch for.
  if (BigInt(put.size) === stamp.size) {
    if (cache) out.fresh.push(entryOf(f.path, stamp, put.hash, recordedAt));
    if (stamps) putStamp(stamps, k, stamp);
  } else if (stamps) {
    stamps[k * STAMP_WIDTH] = NaN;
  }
  return { name: f.name, hash: put.hash, size: put.size, source: f.source };
}

/** The summaries to record of the directories walked file by file, each stat known (none failed, none raced a read). */
function summedUp(walked: SourceRange[], names: string[], taken: Stamps): DirSummary[] {
  return walked
    .filter((d) => !Number.isNaN(latestChange(taken.stamps, d.from, d.to)))
    .map((d) => ({
      dir: d.dir,
      digest: digestOf(names, taken.stamps, d.from, d.to),
      files: d.to - d.from,
      recordedAt: taken.at,
    }));
}

function stampAt(stamps: Float64Array, k: number): Stamp {
  const at = k * STAMP_WIDTH;
  return {
    size: stamps[at]!,
    mtimeMs: stamps[at + 1]!,
    ctimeMs: stamps[at + 2]!,
    ino: stamps[at + 3]!,
    dev: stamps[at + 4]!,
  };
}

/**
 * The entries below a directory walked file by file whose files its walk did not meet. Usually
 * none: a count shows it (every entry below it was met as usable). Else, one query for the paths.
 */
function goneFrom(
  cache: InputStatCache,
  walked: SourceRange[],
  files: InputFile[],
  hits: Map<string, number>,
): string[] {
  const gone: string[] = [];
  let paths: Set<string> | undefined;
  for (const d of walked) {
    if (cache.countUnder(d.dir) <= (hits.get(d.dir) ?? 0)) continue;
    paths ??= new Set(files.map((f) => f.path));
    gone.push(...cache.unmetUnder(d.dir, paths));
  }
  return gone;
}

/** After the run inputs are committed: record what was read, drop the entries of files gone, sum up the directories. */
export function rememberInputs(cache: InputStatCache, ingested: Ingested): void {
  cache.record(ingested.fresh, ingested.gone, ingested.summaries);
}
