import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync, closeSync, copyFileSync, fchmodSync, constants as fsc, createReadStream, fstatSync, ftruncateSync, fsyncSync, lstatSync, mkdirSync, openSync,
  renameSync, statSync, unlinkSync, writeFileSync, type Stats,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errnoCode } from '../errors.js';
import { hashFile, hashOpenFile, readOpenFile, type FileDigest } from './hash-file.js';
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
  putBytes(bytes: Buffer | string): Promise<PutResult>;
  stat(hash: string): Stats | undefined;
  /** A local path to read the object (never to write it). */
  pathOf(hash: string): string;
  /**
   * A private read-only copy at dest: a script cannot alter the stored bytes through it. With
   * `reuse`, an earlier copy (no other link to it) is renamed to dest and overwritten instead of
   * a new file being made. Returns the copy's stat, to tell later whether the script changed it.
   */
  copyTo(hash: string, dest: string, reuse?: string): Stats;
}

/** Objects up to this size are copied through memory (see copyTo). */
const SMALL_COPY = 1 << 20;

export class LocalObjectStore implements ObjectStore {
  readonly root: string;
  readonly tmpDir: string;
  private readonly durable: boolean;
  /** Shard directories known to exist, so that a put costs no mkdir after the first. */
  private readonly shards = new Set<string>();
  /** The root, normalised once: paths below it are built by concatenation (path.join per step adds up). */
  private readonly base: string;

  constructor(dbDir: string, options: { durable?: boolean } = {}) {
    this.root = dbDir;
    this.base = join(dbDir, '.');
    this.tmpDir = join(dbDir, 'tmp');
    this.durable = options.durable ?? false;
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
    let digest: FileDigest | null;
    try {
      digest = hashOpenFile(fd, fstatSync(fd).size);
      if (digest) fchmodSync(fd, 0o444);
    } finally {
      closeSync(fd);
    }
    if (digest) return this.place(tmpFile, digest, true);
    return this.place(tmpFile, await hashFile(tmpFile), false);
  }

  /** Rename a hashed temp file into place. An existing object of the right size wins (same bytes). */
  private place(tmpFile: string, digest: FileDigest, readOnly: boolean): PutResult {
    const final = this.pathOf(digest.hash);
    const existing = statSync(final, { throwIfNoEntry: false });
    if (existing && existing.size === digest.size) {
      unlinkSync(tmpFile);
      return { ...digest, added: false };
    }
    // A missing object, or a damaged one (wrong size) that these verified bytes now repair.
    if (!readOnly) chmodSync(tmpFile, 0o444);
    if (this.durable) fsyncPath(tmpFile);
    this.ensureShard(digest.hash);
    renameSync(tmpFile, final);
    if (this.durable) fsyncPath(dirname(final));
    return { ...digest, added: true };
  }

  private ensureShard(hash: string): void {
    const shard = objectShardDir(hash);
    if (this.shards.has(shard)) return;
    mkdirSync(`${this.base}/${shard}`, { recursive: true });
    this.shards.add(shard);
  }

  async ingest(srcFile: string): Promise<PutResult> {
    const tmp = this.tmpName('ingest');
    const h = createHash('sha256');
    let size = 0;
    const out = await open(tmp, 'wx', 0o644);
    try {
      for await (const chunk of createReadStream(srcFile, { highWaterMark: 1 << 20 })) {
        const buf = chunk as Buffer;
        h.update(buf);
        size += buf.length;
        await out.write(buf);
      }
    } catch (err) {
      await out.close();
      unlinkQuiet(tmp);
      throw err;
    }
    await out.close();
    return this.place(tmp, { hash: h.digest('hex'), size }, false);
  }

  async putBytes(bytes: Buffer | string): Promise<PutResult> {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    const tmp = this.tmpName('put');
    try {
      writeFileSync(tmp, buf, { flag: 'wx' });
    } catch (err) {
      unlinkQuiet(tmp);
      throw err;
    }
    return this.place(tmp, { hash: createHash('sha256').update(buf).digest('hex'), size: buf.length }, false);
  }

  copyTo(hash: string, dest: string, reuse?: string): Stats {
    const src = this.pathOf(hash);
    const fd = openSync(src, 'r');
    let bytes: Buffer | null = null;
    try {
      const size = fstatSync(fd).size;
      if (size <= SMALL_COPY) {
        // Read and write: on ext4 a file made by copy_file_range costs ~1 ms to unlink later,
        // one written plainly a few microseconds.
        bytes = readOpenFile(fd, size);
      }
    } finally {
      closeSync(fd);
    }
    if (bytes !== null) return reuse === undefined ? writeNew(dest, bytes) : overwrite(reuse, dest, bytes);
    if (reuse !== undefined) unlinkSync(reuse);
    // FICLONE makes this a reflink on filesystems that have them, a kernel-side copy elsewhere.
    copyFileSync(src, dest, fsc.COPYFILE_FICLONE);
    chmodSync(dest, 0o444);
    return lstatSync(dest);
  }
}

function writeNew(dest: string, bytes: Buffer): Stats {
  const fd = openSync(dest, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o444);
  try {
    writeFileSync(fd, bytes);
    return fstatSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Rewrite a read-only file in place under a new name. Allocating an inode is the dearest part of
 * making a small file on ext4 (without a journal it scans past every inode deleted in the last
 * minutes), and a step per input would otherwise make and delete one each time. The bytes are
 * written over the old ones and the file cut to length after: a truncation to zero first would
 * make ext4 (auto_da_alloc) flush the file at close, a disk write per step.
 */
function overwrite(old: string, dest: string, bytes: Buffer): Stats {
  if (old !== dest) renameSync(old, dest);
  let fd: number;
  let unlocked = false;
  try {
    fd = openSync(dest, fsc.O_WRONLY);
  } catch (err) {
    if (errnoCode(err) !== 'EACCES') throw err;
    // Not root: the owner may lift its own read-only mode for the write.
    chmodSync(dest, 0o600);
    unlocked = true;
    fd = openSync(dest, fsc.O_WRONLY);
  }
  try {
    writeFileSync(fd, bytes);
    ftruncateSync(fd, bytes.length);
    if (unlocked) fchmodSync(fd, 0o444);
    return fstatSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
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
