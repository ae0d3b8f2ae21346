import { mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { InputLink, InputLinks } from '../store/input-links.js';
import { inputDirNames, parseListingLine } from '../store/listing.js';

/** An input name can hold directories (`a/b.txt`): the file keeps only its basename. */
export function safeBasename(name: string): string {
  const b = basename(name);
  return b === '' || b === '.' || b === '..' ? 'input' : b;
}

/**
 * INPUT_DIR for a gather step: every listed object, one flat file per listing line, each a hard
 * link of the object (pushed onto `links` as it is made, so that a failure part way leaves
 * none unaccounted for).
 */
export async function fillInputDir(
  inputs: InputLinks,
  listingFile: string,
  dir: string,
  owner: unknown,
  links: InputLink[],
): Promise<string> {
  mkdirSync(dir);
  const lines = readFileSync(listingFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map(parseListingLine);
  const names = inputDirNames(lines);
  for (const [i, l] of lines.entries()) links.push(await inputs.link(l.hash, join(dir, names[i]!), owner));
  return dir;
}
