import { readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { NamedObject } from '../store/metadata-store.js';
import type { ObjectStore } from '../store/object-store.js';

export interface InputFile {
  path: string;
  name: string;
}

/**
 * Expand -input arguments: a file is named by its own basename, a directory's files by
 * their path relative to it (walked recursively). Checked before the db is touched, so a
 * typo in a path writes nothing.
 */
export function listInputs(args: string[]): InputFile[] {
  const files: InputFile[] = [];
  for (const arg of args) {
    const st = statSync(arg, { throwIfNoEntry: false });
    if (!st) throw new UserError('ENOINPUT', `-input ${arg}: no such file or directory`);
    if (st.isFile()) files.push({ path: resolve(arg), name: basename(resolve(arg)) });
    else if (st.isDirectory()) walk(resolve(arg), '', files);
    else throw new UserError('EBADINPUT', `-input ${arg}: not a regular file or directory`);
  }
  return files;
}

function walk(dir: string, prefix: string, files: InputFile[]): void {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const name = prefix === '' ? e.name : `${prefix}/${e.name}`;
    const path = join(dir, e.name);
    if (e.isDirectory()) walk(path, name, files);
    else if (e.isFile() || (e.isSymbolicLink() && statSync(path, { throwIfNoEntry: false })?.isFile())) files.push({ path, name });
  }
}

/** Store every input file as an object (streamed, hashed, deduplicated). */
export async function ingestInputs(files: InputFile[], store: ObjectStore): Promise<{ inputs: NamedObject[]; added: number; bytes: number }> {
  const inputs: NamedObject[] = [];
  let added = 0;
  let bytes = 0;
  for (const f of files) {
    const put = await store.ingest(f.path);
    inputs.push({ name: f.name, hash: put.hash, size: put.size });
    if (put.added) {
      added++;
      bytes += put.size;
    }
  }
  return { inputs, added, bytes };
}
