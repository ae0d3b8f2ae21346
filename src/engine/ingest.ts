import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { entryOf, unchangedSince, type InputStatCache, type StatEntry } from '../store/input-cache.js';
import type { RunInputFile } from '../store/metadata-store.js';
import type { ObjectStore } from '../store/object-store.js';

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
}

/** Files stat'ed, looked up and read together: bounded memory, one cache query each. */
const BATCH = 4096;

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
 * Store every input file as an object (streamed, hashed, deduplicated), except those the stat
 * cache vouches for: the same stat as when they were last read, recorded safely after their
 * last change (input-cache.ts), and their object still in the store. gc deletes an object's row
 * before its file (the lookup asks for the row); an object moved aside is looked for. One deleted
 * by hand is not noticed: -rehash puts it back.
 */
export async function ingestInputs(files: InputFile[], store: ObjectStore, options: IngestOptions): Promise<Ingested> {
  const out: Ingested = { inputs: [], added: 0, bytes: 0, read: 0, fresh: [] };
  const aside = options.movedAside;
  const inPlace = (hash: string) => aside.size === 0 || !aside.has(hash) || existsSync(store.pathOf(hash));
  for (let at = 0; at < files.length; at += BATCH) {
    const batch = files.slice(at, at + BATCH);
    // Before the stats: a change after this moment shows in the stat, or within the racy margin.
    const recordedAt = Date.now();
    const known = options.cache && !options.rehash ? options.cache.lookup(batch.map((f) => f.path)) : null;
    for (let k = 0; k < batch.length; k++) {
      const f = batch[k]!;
      // The one stat per file: it follows a symlink, as the read would.
      const stamp = statSync(f.path, { bigint: true });
      const entry = known?.[k];
      if (entry !== undefined && unchangedSince(entry, stamp) && inPlace(entry.hash)) {
        out.inputs.push({ name: f.name, hash: entry.hash, size: Number(stamp.size), source: f.source });
        continue;
      }
      const put = await store.ingest(f.path);
      out.read++;
      out.inputs.push({ name: f.name, hash: put.hash, size: put.size, source: f.source });
      if (put.added) {
        out.added++;
        out.bytes += put.size;
      }
      // Bytes read that the stat does not describe (it grew or shrank meanwhile): nothing to vouch for.
      if (options.cache && BigInt(put.size) === stamp.size)
        out.fresh.push(entryOf(f.path, stamp, put.hash, recordedAt));
    }
  }
  return out;
}

/**
 * After the run inputs are committed: record what was read, and drop the entries of files that a
 * directory given again no longer holds.
 */
export function rememberInputs(cache: InputStatCache, files: InputFile[], ingested: Ingested): void {
  const walked = new Map<string, number>();
  for (const f of files) if (f.source !== null) walked.set(f.source, (walked.get(f.source) ?? 0) + 1);
  cache.record(ingested.fresh, walked, () => new Set(files.map((f) => f.path)));
}
