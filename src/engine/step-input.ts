import { mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { inputDirNames, parseListingLine } from '../store/listing.js';
import { closeCopy, type LocalObjectStore } from '../store/object-store.js';

/** An input name can hold directories (`a/b.txt`): the file keeps only its basename. */
export function safeBasename(name: string): string {
  const b = basename(name);
  return b === '' || b === '.' || b === '..' ? 'input' : b;
}

/** INPUT_DIR for a gather step: every listed object, read-only, one flat file per listing line. */
export function fillInputDir(store: LocalObjectStore, listingFile: string, dir: string): string {
  mkdirSync(dir);
  const lines = readFileSync(listingFile, 'utf8').split('\n').filter((l) => l !== '').map(parseListingLine);
  const names = inputDirNames(lines);
  lines.forEach((l, i) => closeCopy(store.copyTo(l.hash, join(dir, names[i]!)), false));
  return dir;
}
