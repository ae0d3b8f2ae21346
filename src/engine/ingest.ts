import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import {
  entryOf,
  unchangedSince,
  type Cached,
  type InputStatCache,
  type StatEntry,
} from '../store/input-cache.js';
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
  /** Cached paths below a directory given that its walk did not meet: their entries go (rememberInputs). */
  gone: string[];
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
 * Store every input file as an object (streamed, hashed, deduplicated), except those the stat
 * cache vouches for: the same stat as when they were last read, recorded safely after their
 * last change (input-cache.ts), and their object still in the store. gc deletes an object's row
 * before its file (the lookup asks for the row); an object moved aside is looked for. One deleted
 * by hand is not noticed: -rehash puts it back.
 *
 * The cache is loaded whole (a range scan per directory given) and compared in one pass: one
 * plain stat per file, and a bigint one only for a file about to be read, whose entry must
 * record its times to the ns.
 */
export async function ingestInputs(files: InputFile[], store: ObjectStore, options: IngestOptions): Promise<Ingested> {
  const out: Ingested = { inputs: new Array(files.length), added: 0, bytes: 0, read: 0, fresh: [], gone: [] };
  const aside = options.movedAside;
  const inPlace = (hash: string) => aside.size === 0 || !aside.has(hash) || existsSync(store.pathOf(hash));
  const known = options.cache ? loadCache(options.cache, files) : new Map<string, Cached>();
  const trust = options.cache !== null && !options.rehash;
  let met = 0;
  for (let k = 0; k < files.length; k++) {
    const f = files[k]!;
    const entry = known.get(f.path);
    if (entry !== undefined && !entry.met) {
      entry.met = true;
      met++;
    }
    if (trust && entry !== undefined && entry.stored) {
      // Follows a symlink, as the read would.
      const st = statSync(f.path);
      if (unchangedSince(entry, st) && inPlace(entry.hash)) {
        out.inputs[k] = { name: f.name, hash: entry.hash, size: st.size, source: f.source };
        continue;
      }
    }
    // Before the stat: a change after this moment shows in the stat, or within the racy margin.
    const recordedAt = Date.now();
    const stamp = statSync(f.path, { bigint: true });
    const put = await store.ingest(f.path);
    out.read++;
    out.inputs[k] = { name: f.name, hash: put.hash, size: put.size, source: f.source };
    if (put.added) {
      out.added++;
      out.bytes += put.size;
    }
    // Bytes read that the stat does not describe (it grew or shrank meanwhile): nothing to vouch for.
    if (options.cache && BigInt(put.size) === stamp.size) out.fresh.push(entryOf(f.path, stamp, put.hash, recordedAt));
  }
  // Loaded are the entries below each directory given, and of each file given: those not met are gone.
  if (met < known.size) for (const [path, e] of known) if (!e.met) out.gone.push(path);
  return out;
}

function loadCache(cache: InputStatCache, files: InputFile[]): Map<string, Cached> {
  const dirs = new Set<string>();
  const single: string[] = [];
  for (const f of files) {
    if (f.source === null) single.push(f.path);
    else dirs.add(f.source);
  }
  return cache.load(dirs, single);
}

/** After the run inputs are committed: record what was read, and drop the entries of files gone from a directory. */
export function rememberInputs(cache: InputStatCache, ingested: Ingested): void {
  cache.record(ingested.fresh, ingested.gone);
}
