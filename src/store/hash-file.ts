import { createHash } from 'node:crypto';
import { createReadStream, fstatSync, readFileSync, readSync, statSync } from 'node:fs';

/** Below this size a file is hashed with one read: cheaper than a stream, and still bounded memory. */
export const ONE_READ_LIMIT = 1 << 20;

export interface FileDigest {
  hash: string;
  size: number;
}

/** SHA-256 of a file, streamed so that a file of any size costs constant memory. */
export async function hashFile(path: string, knownSize?: number): Promise<FileDigest> {
  const size = knownSize ?? statSync(path).size;
  if (size <= ONE_READ_LIMIT) {
    const bytes = readFileSync(path);
    return { hash: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
  }
  const h = createHash('sha256');
  let total = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    total += (chunk as Buffer).length;
  }
  return { hash: h.digest('hex'), size: total };
}

/** Files smaller than this are read in one call, without asking their size first. */
const WHOLE_READ = 1 << 16;
const wholeBuf = Buffer.allocUnsafe(WHOLE_READ);

/**
 * All of an open regular file if it holds at most `limit` bytes, else null. Under 64 KiB it
 * costs one read (a read that comes back short has met the end of the file): no fstat, no
 * Stats object.
 */
export function readSmallFile(fd: number, limit: number): Buffer | null {
  const n = readSync(fd, wholeBuf, 0, WHOLE_READ, 0);
  if (n < WHOLE_READ) return Buffer.from(wholeBuf.subarray(0, n));
  const size = fstatSync(fd).size;
  return size > limit ? null : readOpenFile(fd, size);
}

/** Up to `size` bytes of an open file from its start: fewer if it is shorter. */
export function readOpenFile(fd: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}

export function hashBytes(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
