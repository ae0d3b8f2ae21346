import { lstatSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import type { NamedObject } from '../store/metadata-store.js';
import type { LocalObjectStore } from '../store/object-store.js';

/** A step's OUTPUT_DIR held something that is not a regular file: the step fails. */
export class BadOutputError extends Error {
  constructor(readonly entry: string, readonly kind: string) {
    super(`OUTPUT_DIR holds ${kind} "${entry}": only regular files can be outputs`);
  }
}

export interface StoredOutput extends NamedObject {
  /** false when the store already had these bytes. */
  added: boolean;
}

/**
 * Walk OUTPUT_DIR; every regular file becomes an object, named by its relative path, and
 * is moved (not copied) into the store. On success OUTPUT_DIR is left empty for reuse.
 * `known`: objects by inode, verified just now, that the script linked or moved out of its
 * inputs: a file that is one of them is that object already, and is not read again.
 */
export async function collectOutputs(
  outDir: string, store: LocalObjectStore, known?: ReadonlyMap<bigint, { hash: string; size: number }>,
): Promise<StoredOutput[]> {
  const found: { name: string; path: string }[] = [];
  const dirs: string[] = [];
  walk(outDir, '', found, dirs);
  const outputs: StoredOutput[] = [];
  // Check everything before storing anything, so a bad entry leaves no stray object.
  for (const f of found) {
    const same = known !== undefined && known.size > 0 ? known.get(lstatSync(f.path, { bigint: true }).ino) : undefined;
    if (same !== undefined) {
      unlinkSync(f.path);
      outputs.push({ name: f.name, hash: same.hash, size: same.size, added: false });
      continue;
    }
    const put = await store.adopt(f.path);
    outputs.push({ name: f.name, hash: put.hash, size: put.size, added: put.added });
  }
  for (const d of dirs.reverse()) rmdirSync(d);
  return outputs;
}

function walk(dir: string, prefix: string, found: { name: string; path: string }[], dirs: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const name = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    const path = `${dir}/${entry.name}`;
    // Names are listed one per line (`HASH<TAB>NAME`) for gather steps and ls.
    if (/[\t\n\r]/.test(entry.name)) throw new BadOutputError(name, BAD_OUTPUT_KINDS.name!);
    if (entry.isDirectory()) {
      dirs.push(path);
      walk(path, name, found, dirs);
    } else if (entry.isFile()) {
      found.push({ name, path });
    } else {
      throw new BadOutputError(name, kindOf(entry));
    }
  }
}

/** How BadOutputError names each kind of entry; the C helper reports the keys (native/collect.c). */
export const BAD_OUTPUT_KINDS: Record<string, string> = {
  name: 'a name with a tab or newline,',
  symlink: 'a symlink',
  fifo: 'a FIFO',
  socket: 'a socket',
  device: 'a device file',
};

function kindOf(entry: { isSymbolicLink(): boolean; isFIFO(): boolean; isSocket(): boolean }): string {
  if (entry.isSymbolicLink()) return BAD_OUTPUT_KINDS.symlink!;
  if (entry.isFIFO()) return BAD_OUTPUT_KINDS.fifo!;
  if (entry.isSocket()) return BAD_OUTPUT_KINDS.socket!;
  return BAD_OUTPUT_KINDS.device!;
}
