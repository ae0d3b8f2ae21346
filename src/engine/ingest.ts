import { readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
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
  const byName = new Map<string, string>();
  const unique: InputFile[] = [];
  for (const f of files) {
    // A listing line is HASH<TAB>NAME<TAB>FROM: a name cannot hold either separator.
    if (/[\t\n]/.test(f.name)) {
      throw new UserError('EBADINPUT', `-input ${f.path}: a name with a tab or newline cannot be an input (${JSON.stringify(f.name)}); rename the file`);
    }
    const other = byName.get(f.name);
    if (other !== undefined && other !== f.path) {
      throw new UserError('EBADINPUT', `-input: two files would both be the input named "${f.name}": ${other} and ${f.path}; give them in separate runs (the later replaces the earlier) or rename one`);
    }
    // The same file given twice is one input.
    if (other !== undefined) continue;
    byName.set(f.name, f.path);
    unique.push(f);
  }
  return unique;
}

function walk(dir: string, prefix: string, source: string, files: InputFile[]): void {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const name = prefix === '' ? e.name : `${prefix}/${e.name}`;
    const path = join(dir, e.name);
    if (e.isDirectory()) walk(path, name, source, files);
    else if (e.isFile() || (e.isSymbolicLink() && statSync(path, { throwIfNoEntry: false })?.isFile())) files.push({ path, name, source });
  }
}

/** Store every input file as an object (streamed, hashed, deduplicated). */
export async function ingestInputs(files: InputFile[], store: ObjectStore): Promise<{ inputs: RunInputFile[]; added: number; bytes: number }> {
  const inputs: RunInputFile[] = [];
  let added = 0;
  let bytes = 0;
  for (const f of files) {
    const put = await store.ingest(f.path);
    inputs.push({ name: f.name, hash: put.hash, size: put.size, source: f.source });
    if (put.added) {
      added++;
      bytes += put.size;
    }
  }
  return { inputs, added, bytes };
}
