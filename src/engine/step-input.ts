import { mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { closeCopy, type LocalObjectStore } from '../store/object-store.js';

/** An input name can hold directories (`a/b.txt`): the file keeps only its basename. */
export function safeBasename(name: string): string {
  const b = basename(name);
  return b === '' || b === '.' || b === '..' ? 'input' : b;
}

/** INPUT_DIR for a gather step: every listed object, read-only, under a unique name ending with its basename. */
export function fillInputDir(store: LocalObjectStore, listingFile: string, dir: string): string {
  mkdirSync(dir);
  const entries = readFileSync(listingFile, 'utf8').split('\n').filter((l) => l !== '').map((line) => {
    const tab = line.indexOf('\t');
    return { hash: line.slice(0, tab), name: line.slice(tab + 1) };
  });
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(safeBasename(e.name), (counts.get(safeBasename(e.name)) ?? 0) + 1);
  const width = String(entries.length).length;
  entries.forEach((e, i) => {
    const base = safeBasename(e.name);
    const unique = counts.get(base) === 1 ? base : `${String(i + 1).padStart(width, '0')}-${base}`;
    closeCopy(store.copyTo(e.hash, join(dir, unique)), false);
  });
  return dir;
}
