import { readdirSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../../errors.js';

export type ObjectFile = { kind: 'object'; hash: string; path: string } | { kind: 'stray'; path: string; why: string };

const SHARD = /^[0-9a-f]{2}$/;
const REST = /^[0-9a-f]{60}$/;

/**
 * Every entry under <db>/objects: files laid out as objects/AB/CD/<60 hex> are objects, anything
 * else (a bad name, a file where a shard directory belongs, a symlink) is a stray. One shard
 * directory is listed at a time, so memory stays small however many objects there are.
 */
export function* walkObjects(dbDir: string): Generator<ObjectFile> {
  const root = join(dbDir, 'objects');
  for (const a of list(root)) {
    const pa = join(root, a.name);
    if (!a.isDirectory() || !SHARD.test(a.name)) {
      yield {
        kind: 'stray',
        path: pa,
        why: a.isDirectory() ? 'not a shard directory (two hex digits)' : 'not in a shard directory',
      };
      continue;
    }
    for (const b of list(pa)) {
      const pb = join(pa, b.name);
      if (!b.isDirectory() || !SHARD.test(b.name)) {
        yield {
          kind: 'stray',
          path: pb,
          why: b.isDirectory() ? 'not a shard directory (two hex digits)' : 'not in a second-level shard directory',
        };
        continue;
      }
      for (const c of list(pb)) {
        const pc = join(pb, c.name);
        if (!REST.test(c.name)) yield { kind: 'stray', path: pc, why: 'not an object name (60 lowercase hex digits)' };
        else if (!c.isFile())
          yield {
            kind: 'stray',
            path: pc,
            why: c.isSymbolicLink() ? 'a symlink, not a regular file' : 'not a regular file',
          };
        else yield { kind: 'object', hash: a.name + b.name + c.name, path: pc };
      }
    }
  }
}

function list(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  } catch (err) {
    // A db that never stored an object has no objects/ yet; a shard removed meanwhile is just empty.
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}
