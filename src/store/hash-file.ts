import { createHash } from 'node:crypto';
import { fstatSync, readFileSync, readSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

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
  const fh = await open(path, 'r');
  try {
    const h = createHash('sha256');
    const total = await eachChunk(fh, (chunk) => {
      h.update(chunk);
    });
    return { hash: h.digest('hex'), size: total };
  } finally {
    await fh.close();
  }
}

const CHUNK = 1 << 20;
const ignore = () => {};

/**
 * Hand every CHUNK of an open file, from its start, to `use`, while the next one is being read
 * (in libuv's threadpool): hashing on this thread overlaps the reading, so a big file costs
 * about the slower of the two, not their sum (a read stream took twice as long). Three buffers,
 * reused: a promise `use` returns (a write of the chunk) is awaited before its buffer is read
 * into again, and before the end. Returns the bytes read.
 */
export async function eachChunk(
  fh: FileHandle,
  use: (chunk: Buffer, at: number) => void | Promise<void>,
): Promise<number> {
  const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  const using: (void | Promise<void>)[] = [undefined, undefined, undefined];
  let at = 0;
  let reading = fh.read(bufs[0]!, 0, CHUNK, 0);
  try {
    for (let i = 0; ; i++) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) break;
      const next = (i + 1) % 3;
      await using[next];
      reading = fh.read(bufs[next]!, 0, CHUNK, at + bytesRead);
      const used = use(bufs[i % 3]!.subarray(0, bytesRead), at);
      // Awaited later: a failure must not count as unhandled meanwhile.
      used?.catch(ignore);
      using[i % 3] = used;
      at += bytesRead;
    }
  } catch (err) {
    reading.catch(ignore);
    throw err;
  }
  await Promise.all(using);
  return at;
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

/** Up to `size` bytes of an open file from `position` (its start): fewer if it is shorter. */
export function readOpenFile(fd: number, size: number, position = 0): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, position + off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}

export function hashBytes(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
