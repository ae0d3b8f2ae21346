import { opendirSync, statSync, type Dirent } from 'node:fs';
import { UserError } from '../errors.js';
import type { Stamp } from '../store/input-cache.js';
import type { Listed } from './list-dir.js';

export interface InputFile {
  path: string;
  name: string;
  /** The directory argument it was found under (absolute), or null for a file argument. */
  source: string | null;
}

/**
 * A directory's listing is sorted when it holds at most this many entries (the order run inputs
 * are added in, and so step ids, follows the names); a bigger one is taken in the order the
 * filesystem lists it, a few entries at a time, so that memory does not grow with it. That order
 * is the same on every walk of an unchanged directory, which is all its summary needs.
 * TASK_PIPELINE_INGEST_BATCH, which makes ingest's batches small for tests of their boundaries,
 * makes this small too: a test's small directory is then taken as a big one is (and cut into its
 * chunks by the C helper, list-dir.c).
 */
export const SORTED_MAX = Number(process.env.TASK_PIPELINE_INGEST_BATCH) ? 4 : 10_000;

/**
 * A directory's files, recursively, named by their path relative to `source`: a symlink to a file
 * counts, one to a directory is not followed. The listing's type spares a stat per entry; only a
 * symlink needs one, to know what it points at. Held in memory: one directory handle and at most
 * SORTED_MAX entries per level.
 */
export function* walkFiles(dir: string, prefix: string, source: string): Generator<InputFile> {
  const d = opendirSync(dir, { bufferSize: 128 });
  try {
    // Paths by concatenation: path.join per entry adds up over 500,000 files.
    const base = dir.endsWith('/') ? dir : `${dir}/`;
    const entries = function* () {
      for (let e = d.readSync(); e !== null; e = d.readSync()) yield e;
    };
    for (const entry of walkOrder<Dirent>(entries())) {
      const name = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      const path = base + entry.name;
      if (entry.isDirectory()) yield* walkFiles(path, name, source);
      else if (entry.isFile() || (entry.isSymbolicLink() && statSync(path, { throwIfNoEntry: false })?.isFile())) {
        checkName(path, name);
        yield { path, name, source };
      }
    }
  } finally {
    d.closeSync();
  }
}

/**
 * A directory's entries in the walk's order: sorted when it holds at most SORTED_MAX, else as the
 * filesystem lists them, so that memory stays bounded.
 */
function* walkOrder<T extends { name: string }>(entries: Iterator<T>): Generator<T> {
  const head: T[] = [];
  let e = entries.next();
  for (; !e.done && head.length < SORTED_MAX; e = entries.next()) head.push(e.value);
  if (e.done) head.sort(byName);
  yield* head;
  for (; !e.done; e = entries.next()) yield e.value;
}

/** walkOrder for entries that come a batch at a time. */
async function* walkOrderBatched<T extends { name: string }>(batches: AsyncIterable<T[]>): AsyncGenerator<T[]> {
  let head: T[] | null = [];
  for await (const batch of batches) {
    if (head === null) yield batch;
    else if (head.push(...batch) > SORTED_MAX) {
      yield head;
      head = null;
    }
  }
  if (head !== null) yield head.sort(byName);
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Files of a walk, or of a listing, and the stat the listing took of each (see walkListed). */
export type WalkBatch = { file: InputFile; stamp: Stamp | null | undefined }[];
/** Files are handed on this many at a time. */
const BATCH = 1024;

/** walkFiles a batch at a time, without stats. */
export function* walkBatched(dir: string, prefix = '', source = dir): Generator<WalkBatch> {
  let batch: WalkBatch = [];
  for (const file of walkFiles(dir, prefix, source)) {
    batch.push({ file, stamp: undefined });
    if (batch.length === BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * walkFiles over a directory whose entries the C helper lists with their files' stats
 * (list-dir.ts), a batch at a time: the same files in the same order, each with its stat
 * (undefined for those below a subdirectory, which walkFiles walks as usual).
 */
export async function* walkListed(dir: string, listing: AsyncIterable<Listed[]>): AsyncGenerator<WalkBatch> {
  const base = dir.endsWith('/') ? dir : `${dir}/`;
  for await (const entries of walkOrderBatched(listing)) {
    let batch: WalkBatch = [];
    for (const entry of entries) {
      const path = base + entry.name;
      if (entry.kind === 'd') {
        if (batch.length > 0) yield batch;
        batch = [];
        yield* walkBatched(path, entry.name, dir);
      } else if (entry.kind !== 'x') {
        checkName(path, entry.name);
        batch.push({ file: { path, name: entry.name, source: dir }, stamp: entry.stamp });
      }
    }
    if (batch.length > 0) yield batch;
  }
}

/** A listing line is HASH<TAB>NAME<TAB>FROM: a name cannot hold either separator. */
export function checkName(path: string, name: string): void {
  if (/[\t\n]/.test(name)) {
    throw new UserError(
      'EBADINPUT',
      `-input ${path}: a name with a tab or newline cannot be an input (${JSON.stringify(name)}); rename the file`,
    );
  }
}
