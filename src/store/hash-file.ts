import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, readSync, statSync } from 'node:fs';

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
