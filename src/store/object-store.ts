import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { DurableDirs, fsyncPath } from './durable-dirs.js';
import { faultArmed, faultPoint, type FaultPoint } from './fault-point.js';
import { eachChunk, hashBytes, hashFile, ONE_READ_LIMIT, readSmallFile, type FileDigest } from './hash-file.js';
import { InputLinks } from './input-links.js';
import { objectRelPath, objectShardDir } from './object-path.js';

export interface PutResult extends FileDigest {
  /** false when an object with these bytes was already stored (deduplicated). */
  added: boolean;
}

/**
 * The narrow object-store interface the engine uses. Local directory first; an
 * S3-like store later only needs these verbs.
 */
export interface ObjectStore {
  /** Take ownership of a finished file in the store's tmp/ and move it under its hash. */
  adopt(tmpFile: string): Promise<PutResult>;
  /** Copy an outside file in, hashing while it streams. */
  ingest(srcFile: string): Promise<PutResult>;
  /** `fault`: the test hook point reached halfway through writing the bytes (fault-point.ts). */
  putBytes(bytes: Buffer | string, fault?: FaultPoint): Promise<PutResult>;
  stat(hash: string): Stats | undefined;
  /** A local path to read the object (never to write it). */
  pathOf(hash: string): string;
}

/** Up to this size an input is read whole, then stored as bytes. */
const SMALL_INGEST = 1 << 16;

export class LocalObjectStore implements ObjectStore {
  readonly root: string;
  readonly tmpDir: string;
  /** <db>/objects, for a writer outside this process (the C helper, native/collect.c). */
  readonly objectsDir: string;
  readonly durable: boolean;
  /**
   * Shard directories known to exist, so that a put costs no mkdir after the first: one bit per
   * objects/AB/CD, indexed by the hash's first four hex digits. 8 KiB, where a set of the 65,536
   * names took 4 MB of heap once a large run had met them all.
   */
  private readonly shards = new Uint8Array(65536 / 8);
  /** The root, normalised once: paths below it are built by concatenation (path.join per step adds up). */
  private readonly base: string;
  /** Steps' inputs: hard links of the object files, checked after each step (input-links.ts). */
  readonly inputs: InputLinks;
  /** -durable: the directories on each object's path, fsynced before the commit that names it. */
  private readonly dirs: DurableDirs | null;

  /** `tmpDir`: a process's own directory under tmp/, where several processes share the store (PostgreSQL). */
  constructor(dbDir: string, options: { durable?: boolean; tmpDir?: string } = {}) {
    this.root = dbDir;
    this.base = join(dbDir, '.');
    this.tmpDir = options.tmpDir ?? join(dbDir, 'tmp');
    this.objectsDir = join(dbDir, 'objects');
    this.durable = options.durable ?? false;
    this.inputs = new InputLinks(this);
    this.dirs = this.durable ? new DurableDirs(this.base) : null;
  }

  pathOf(hash: string): string {
    return `${this.base}/${objectRelPath(hash)}`;
  }

  stat(hash: string): Stats | undefined {
    return statSync(this.pathOf(hash), { throwIfNoEntry: false });
  }

  tmpName(label: string): string {
    return join(this.tmpDir, `${label}.${process.pid}.${randomBytes(6).toString('hex')}`);
  }

  async adopt(tmpFile: string): Promise<PutResult> {
    // A small file (nearly every output) costs one open: size, bytes and read-only mode through it.
    const fd = openSync(tmpFile, 'r');
    try {
      const bytes = readSmallFile(fd, ONE_READ_LIMIT);
      if (bytes !== null) {
        return this.place(tmpFile, { hash: hashBytes(bytes), size: bytes.length }, fd);
      }
    } finally {
      closeSync(fd);
    }
    return this.place(tmpFile, await hashFile(tmpFile), null);
  }

  /**
   * Rename a hashed temp file into place (made read-only through `fd` when it is open). An
   * existing object of the right size wins (same bytes).
   */
  private place(tmpFile: string, digest: FileDigest, fd: number | null): PutResult {
    const final = this.pathOf(digest.hash);
    // A shard directory this put has just made holds nothing yet: no need to look for the object.
    const fresh = this.ensureShard(digest.hash);
    const existing = fresh ? undefined : statSync(final, { throwIfNoEntry: false });
    // tmpFile may be the object itself, hard-linked into OUTPUT_DIR by a script from its
    // INPUT_FILE: it must go by unlink; a rename onto the same inode would leave it there.
    if (existing && existing.size === digest.size) {
      unlinkSync(tmpFile);
      // Perhaps written by a run without -durable: its bytes and its name go to disk before this commit names it.
      if (this.dirs) {
        fsyncPath(final);
        this.dirs.settle(objectShardDir(digest.hash), false);
      }
      return { ...digest, added: false };
    }
    // A missing object, or a damaged one (wrong size) that these verified bytes now repair.
    if (fd !== null) fchmodSync(fd, 0o444);
    else chmodSync(tmpFile, 0o444);
    if (this.durable) {
      if (fd !== null) fsyncSync(fd);
      else fsyncPath(tmpFile);
    }
    renameSync(tmpFile, final);
    faultPoint('after-rename');
    this.dirs?.settle(objectShardDir(digest.hash), true);
    return { ...digest, added: true };
  }

  /** Make the object's shard directory if needed; true when it did not exist before. */
  private ensureShard(hash: string): boolean {
    const index = parseInt(hash.slice(0, 4), 16);
    const bit = 1 << (index & 7);
    if ((this.shards[index >> 3]! & bit) !== 0) return false;
    const made = mkdirSync(`${this.base}/${objectShardDir(hash)}`, { recursive: true });
    this.shards[index >> 3]! |= bit;
    return made !== undefined;
  }

  async ingest(srcFile: string): Promise<PutResult> {
    // Nearly every input is small: one read on this thread, not a copy through three 1 MiB buffers
    // and threadpool round trips per file.
    const fd = openSync(srcFile, 'r');
    let small: Buffer | null;
    try {
      small = readSmallFile(fd, SMALL_INGEST);
    } finally {
      closeSync(fd);
    }
    if (small !== null) return this.putBytes(small);
    const tmp = this.tmpName('ingest');
    const h = createHash('sha256');
    const src = await open(srcFile, 'r');
    let size: number;
    try {
      const out = await open(tmp, 'wx', 0o644);
      try {
        // One pass: each chunk hashed here while the next is read and the one before written.
        size = await eachChunk(src, async (chunk, at) => {
          h.update(chunk);
          for (let off = 0; off < chunk.length;)
            off += (await out.write(chunk, off, chunk.length - off, at + off)).bytesWritten;
        });
      } finally {
        await out.close();
      }
    } catch (err) {
      unlinkQuiet(tmp);
      throw err;
    } finally {
      await src.close();
    }
    return this.place(tmp, { hash: h.digest('hex'), size }, null);
  }

  async putBytes(bytes: Buffer | string, fault?: FaultPoint): Promise<PutResult> {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    const tmp = this.tmpName('put');
    try {
      if (fault !== undefined && faultArmed(fault)) writeWithFault(tmp, buf, fault);
      else writeFileSync(tmp, buf, { flag: 'wx' });
    } catch (err) {
      unlinkQuiet(tmp);
      throw err;
    }
    return this.place(tmp, { hash: createHash('sha256').update(buf).digest('hex'), size: buf.length }, null);
  }
}

/** The test hook's slow path: half the bytes, the fault point, the other half. */
function writeWithFault(tmp: string, buf: Buffer, fault: FaultPoint): void {
  const fd = openSync(tmp, 'wx');
  try {
    const half = buf.length >> 1;
    for (let off = 0; off < half;) off += writeSync(fd, buf, off, half - off);
    faultPoint(fault);
    for (let off = half; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
  } finally {
    closeSync(fd);
  }
}

export function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}
