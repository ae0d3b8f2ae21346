import { statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { plainStamp, type Stamp } from '../store/input-cache.js';
import { CHUNK_CUTS, DirDigest, type Chunk } from '../store/input-summary.js';
import { InputNames } from '../store/input-names.js';
import type { InputVouch } from '../store/input-vouch.js';
import { checkName, SORTED_MAX, walkBatched, walkListed, type InputFile } from './input-walk.js';
import { chunkEntries, listDir } from './list-dir.js';

/** A -input argument, checked: a file, or a directory walked once (and summed up, when asked). */
export type InputArg =
  | { kind: 'file'; file: InputFile }
  | {
      kind: 'dir';
      dir: string;
      /** The digest of its walk and the latest change in it (input-summary.ts), or null when not summed up. */
      digest: string | null;
      /** Its chunks' digests (input-summary.ts), 32 bytes each end to end; empty when not summed up. */
      chunks: Buffer;
      latest: number;
      /** Date.now() before the first of its stats. */
      recordedAt: number;
      /** Its files given now (those an earlier argument gave under the same name left out). */
      given: number;
      /** A file was left out: its summary cannot vouch for the whole directory. */
      partial: boolean;
      /**
       * The files the stat cache could not vouch for as the current run inputs they would be, with
       * their stats, or null when it was not asked or they were too many to keep (then ingest
       * compares the directory file by file).
       */
      unvouched: Unvouched[] | null;
      /** How many of its files were looked up one by one in the stat cache (those its summary's chunks did not vouch for). */
      lookedUp: number;
    };

export interface CheckedInputs {
  args: InputArg[];
  /** `INDEX\0NAME`: a file that an earlier argument gave already under the same name (one input). */
  skip: Set<string>;
}

export interface CheckOptions {
  /** Stat each file of a directory into its digest (input-summary.ts). */
  summarize?: boolean;
  /** With summarize: find the files that are not already the current run inputs they would be. */
  vouch?: InputVouch | null;
  /** Collect every file given (the whole list in memory). */
  collect?: InputFile[];
}

/** A file the stat cache may not vouch for, with its stat now (null if it failed). */
type Unvouched = { file: InputFile; stamp: Stamp | null };

/**
 * Files looked up in the stat cache together, and at most this many unvouched files kept in all
 * (beyond, ingest walks the directory again). TASK_PIPELINE_INGEST_BATCH makes both small, for
 * tests of the boundaries, as it does ingest's batches.
 */
const SMALL = Number(process.env.TASK_PIPELINE_INGEST_BATCH) || 0;
const VOUCH_BATCH = SMALL || 1024;
const UNVOUCHED_MAX = SMALL || 4096;
/**
 * A directory summed up with at most this many files is listed and stat'ed by the C helper
 * (list-dir.ts), which holds its names (~100 bytes an entry) while it stats them.
 */
const LIST_MAX = 100_000;

/**
 * Check the -input arguments before anything is written, so that a typo in a path, a name with a
 * tab or a newline, or two files claiming one name, write nothing. Each directory is walked once, a
 * few entries at a time; with `summarize`, each file is stat'ed as it is met, into the directory's
 * digest, and, with `vouch`, looked up in the stat cache a batch at a time: a directory given again
 * with a few files changed or added is then ingested from those few, without a second walk.
 * Nothing is kept per file beyond those few unless `collect` asks for the whole list.
 */
export async function checkInputs(args: string[], o: CheckOptions = {}): Promise<CheckedInputs> {
  const given: { path: string; dir: boolean }[] = [];
  for (const arg of args) {
    const st = statSync(arg, { throwIfNoEntry: false });
    if (!st) throw new UserError('ENOINPUT', `-input ${arg}: no such file or directory`);
    if (!st.isFile() && !st.isDirectory())
      throw new UserError('EBADINPUT', `-input ${arg}: not a regular file or directory`);
    const path = resolve(arg);
    // The same argument twice is given once.
    if (!given.some((g) => g.path === path)) given.push({ path, dir: st.isDirectory() });
  }
  const out: CheckedInputs = { args: [], skip: new Set() };
  // One argument's names are distinct paths: only two arguments can claim a name twice.
  const names = given.length > 1 ? new InputNames() : null;
  const claim = (index: number, f: InputFile) => {
    const other = names?.claim(f.name, f.path) ?? null;
    if (other === null) o.collect?.push(f);
    else if (other === f.path) out.skip.add(`${index}\0${f.name}`);
    else
      throw new UserError(
        'EBADINPUT',
        `-input: two files would both be the input named "${f.name}": ${other} and ${f.path}; give them in separate runs (the later replaces the earlier) or rename one`,
      );
  };
  let budget = UNVOUCHED_MAX;
  try {
    for (const [index, { path, dir }] of given.entries()) {
      if (!dir) {
        const file = { path, name: basename(path), source: null };
        checkName(path, file.name);
        claim(index, file);
        out.args.push({ kind: 'file', file });
        continue;
      }
      const alone = names === null && o.collect === undefined;
      out.args.push(await walkDir(path, index, o, claim, out.skip, () => (budget -= 1) >= 0, alone));
    }
  } finally {
    names?.close();
  }
  return out;
}

/** One directory argument: walked, its names claimed, summed up and its files vouched for as asked. */
async function walkDir(
  dir: string,
  index: number,
  o: CheckOptions,
  claim: (index: number, f: InputFile) => void,
  skip: Set<string>,
  keepOne: () => boolean,
  alone: boolean,
): Promise<InputArg> {
  const recordedAt = Date.now();
  const digest = o.summarize ? new DirDigest() : null;
  const vouch = digest && o.vouch?.worthAsking(dir) ? o.vouch : null;
  // With a summary still true to the run inputs, a chunk it holds vouches for its files whole.
  const chunkKnown = vouch?.chunks(dir) ?? null;
  let unvouched: Unvouched[] | null = vouch ? [] : null;
  let chunk: Unvouched[] = [];
  let batch: Unvouched[] = [];
  let given = 0;
  let partial = false;
  let lookedUp = 0;
  const lookUp = () => {
    if (unvouched !== null && batch.length > 0) {
      lookedUp += batch.length;
      const ok = vouch!.current(
        dir,
        batch.map((b) => b.file.name),
        // A failed stat vouches for nothing: no entry has a NaN size.
        batch.map((b) => b.stamp ?? { size: NaN, mtimeMs: NaN, ctimeMs: NaN, ino: NaN, dev: NaN }),
      );
      for (const [k, b] of batch.entries()) {
        if (ok.has(k) || unvouched === null) continue;
        if (keepOne()) unvouched.push(b);
        else unvouched = null;
      }
    }
    batch = [];
  };
  // A chunk closed: its files are looked up, unless the summary knows it.
  const closed = (c: Chunk | null, files: () => Unvouched[]) => {
    if (c === null) return;
    if (unvouched !== null && !chunkKnown?.(c)) batch.push(...files());
    if (batch.length >= VOUCH_BATCH) lookUp();
  };
  // A directory given again (its size known from its summary) is listed with its stats by the C
  // helper; and, when it is the only argument and nothing is collected, cut into its chunks there.
  const listing =
    digest && (o.vouch?.summedFiles(dir) ?? Infinity) <= LIST_MAX
      ? await listDir(dir, alone ? { ...CHUNK_CUTS, sortedMax: SORTED_MAX } : undefined)
      : null;
  if (listing?.chunked) {
    const base = dir.endsWith('/') ? dir : `${dir}/`;
    for await (const chunks of listing.chunks)
      for (const c of chunks) {
        given += c.files;
        digest!.addChunk(c);
        closed(c, () =>
          chunkEntries(c).map((e) => ({ file: { path: base + e.name, name: e.name, source: dir }, stamp: e.stamp })),
        );
      }
  } else {
    for await (const files of listing ? walkListed(dir, listing.entries) : walkBatched(dir))
      for (const { file: f, stamp: listed } of files) {
        claim(index, f);
        const skipped = skip.has(`${index}\0${f.name}`);
        if (skipped) partial = true;
        else given++;
        if (digest === null) continue;
        let stamp = listed;
        if (stamp === undefined) {
          const st = statSync(f.path, { throwIfNoEntry: false });
          stamp = st ? plainStamp(st) : null;
        }
        if (unvouched !== null && !skipped) chunk.push({ file: f, stamp });
        const c = digest.add(f.name, stamp);
        if (c === null) continue;
        closed(c, () => chunk);
        chunk = [];
      }
  }
  closed(digest?.close() ?? null, () => chunk);
  lookUp();
  return {
    kind: 'dir',
    dir,
    digest: digest?.digest() ?? null,
    chunks: digest?.chunks() ?? Buffer.alloc(0),
    latest: digest?.latest ?? NaN,
    recordedAt,
    given,
    partial,
    unvouched,
    lookedUp,
  };
}

/**
 * Expand -input arguments into every file they give: a file is named by its own basename, a
 * directory's files by their path relative to it (walked recursively). The whole list in memory:
 * for the callers that take it whole (a dry run, a PostgreSQL run).
 */
export async function listInputs(args: string[]): Promise<InputFile[]> {
  const files: InputFile[] = [];
  await checkInputs(args, { collect: files });
  return files;
}
