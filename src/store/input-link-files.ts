// What an object linked into steps' slots looked like, and the file operations on those links
// (input-links.ts): kept apart so that the class there holds only the bookkeeping.
import { createHash } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
  unlinkSync,
  type BigIntStats,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errnoCode } from '../errors.js';
import { eachChunk, hashBytes, ONE_READ_LIMIT } from './hash-file.js';

/**
 * What an object's inode looked like after the engine's own last link or unlink of it. A
 * script that writes to its input, chmods or touches it changes its ctime, which nothing
 * but the kernel sets: an inode found as recorded here was not touched since.
 */
export interface InodeState {
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  mode: bigint;
}

export const BIG = { bigint: true, throwIfNoEntry: false } as const;

export function stateOf(s: BigIntStats): InodeState {
  return { ino: s.ino, size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, mode: s.mode };
}

export function same(s: BigIntStats | undefined, w: InodeState): boolean {
  return (
    s !== undefined &&
    s.ctimeNs === w.ctimeNs &&
    s.ino === w.ino &&
    s.size === w.size &&
    s.mtimeNs === w.mtimeNs &&
    s.mode === w.mode
  );
}

/** link(2), making the slot directory again if a script removed it, and replacing a file a script left under that name. */
export function linkAt(obj: string, dest: string): void {
  try {
    linkSync(obj, dest);
    return;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EEXIST') unlinkSync(dest);
    else if (code === 'ENOENT' && statSync(obj, { throwIfNoEntry: false }) !== undefined)
      mkdirSync(dirname(dest), { recursive: true });
    else throw err;
  }
  linkSync(obj, dest);
}

/** SHA-256 of the first `size` bytes of a file, and the file's whole length. */
export async function hashPrefix(path: string, size: number): Promise<{ hash: string; size: number }> {
  if (size <= ONE_READ_LIMIT) {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.allocUnsafe(size);
      let off = 0;
      while (off < size) {
        const n = readSync(fd, buf, off, size - off, off);
        if (n === 0) break;
        off += n;
      }
      return { hash: hashBytes(buf.subarray(0, off)), size: off < size ? off : fstatSync(fd).size };
    } finally {
      closeSync(fd);
    }
  }
  const fh = await open(path, 'r');
  try {
    const h = createHash('sha256');
    const total = await eachChunk(fh, (chunk, at) => {
      if (at < size) h.update(chunk.subarray(0, size - at));
    });
    return { hash: h.digest('hex'), size: total };
  } finally {
    await fh.close();
  }
}

export function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}
