import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync, closeSync, copyFileSync, fchmodSync, constants as fsc, createReadStream, fstatSync, ftruncateSync, fsyncSync, lstatSync, mkdirSync, openSync,
  renameSync, statSync, unlinkSync, writeFileSync, writeSync, type Stats,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errnoCode } from '../errors.js';
import { hashBytes, hashFile, ONE_READ_LIMIT, readSmallFile, type FileDigest } from './hash-file.js';
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
   * a new file being made. The copy's stat tells later whether the script changed it; a small
   * copy keeps its file open for that next overwrite until closeCopy().
   */
  copyTo(hash: string, dest: string, reuse?: InputCopy | null): InputCopy;
}

export interface InputCopy {
  path: string;
  /** Open for writing (a small copy), so that overwriting it for the next step costs no open. */
  fd: number | null;
  /** As the copy was made. */
  stats: Stats;
}

/** Close a copy's file; with `remove`, delete it too. */
export function closeCopy(copy: InputCopy, remove: boolean): void {
  if (copy.fd !== null) closeSync(copy.fd);
  copy.fd = null;
  if (remove) unlinkQuiet(copy.path);
}

/** Objects up to this size are copied through memory (see copyTo). */
const SMALL_COPY = 1 << 20;
/**
 * The bytes of objects up to this size just stored or read are kept (latin1 strings, no
 * buffer pool slabs held), up to RECENT_TOTAL in all: the step a new object feeds usually
 * starts soon after, and its input copy then costs no open and read of the object.
 */
const RECENT_OBJECT = 1 << 16;
const RECENT_TOTAL = 16 << 20;
/** What an entry costs beyond its bytes (map slot, string header), for the bound. */
const RECENT_OVERHEAD = 128;

export class LocalObjectStore implements ObjectStore {
  readonly root: string;
  readonly tmpDir: string;
  /** <db>/objects, for a writer outside this process (the C helper, native/collect.c). */
  readonly objectsDir: string;
  readonly durable: boolean;
  /** Shard directories known to exist, so that a put costs no mkdir after the first. */
  private readonly shards = new Set<string>();
  /** The root, normalised once: paths below it are built by concatenation (path.join per step adds up). */
  private readonly base: string;
  private readonly recent = new Map<string, string>();
  private recentSize = 0;

  constructor(dbDir: string, options: { durable?: boolean } = {}) {
    this.root = dbDir;
    this.base = join(dbDir, '.');
    this.tmpDir = join(dbDir, 'tmp');
    this.objectsDir = join(dbDir, 'objects');
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
    try {
      const bytes = readSmallFile(fd, ONE_READ_LIMIT);
      if (bytes !== null) {
        const digest = { hash: hashBytes(bytes), size: bytes.length };
        this.remember(digest.hash, bytes);
        return this.place(tmpFile, digest, fd);
      }
    } finally {
      closeSync(fd);
    }
    return this.place(tmpFile, await hashFile(tmpFile), null);
  }

  private remember(hash: string, bytes: Buffer): void {
    if (bytes.length > RECENT_OBJECT || this.recent.has(hash)) return;
    this.recent.set(hash, bytes.toString('latin1'));
    this.recentSize += bytes.length + RECENT_OVERHEAD;
    for (const [old, text] of this.recent) {
      if (this.recentSize <= RECENT_TOTAL) break;
      this.recent.delete(old);
      this.recentSize -= text.length + RECENT_OVERHEAD;
    }
  }

  /** The bytes of a small object (from memory when just seen), or null for a big one. */
  private smallBytes(hash: string): Buffer | null {
    const text = this.recent.get(hash);
    if (text !== undefined) return Buffer.from(text, 'latin1');
    const fd = openSync(this.pathOf(hash), 'r');
    try {
      const bytes = readSmallFile(fd, SMALL_COPY);
      if (bytes === null) return null;
      this.remember(hash, bytes);
      return bytes;
    } finally {
      closeSync(fd);
    }
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
    if (existing && existing.size === digest.size) {
      unlinkSync(tmpFile);
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
    if (this.durable) fsyncPath(dirname(final));
    return { ...digest, added: true };
  }

  /** Make the object's shard directory if needed; true when it did not exist before. */
  private ensureShard(hash: string): boolean {
    const shard = objectShardDir(hash);
    if (this.shards.has(shard)) return false;
    const made = mkdirSync(`${this.base}/${shard}`, { recursive: true });
    this.shards.add(shard);
    return made !== undefined;
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
    return this.place(tmp, { hash: h.digest('hex'), size }, null);
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
    return this.place(tmp, { hash: createHash('sha256').update(buf).digest('hex'), size: buf.length }, null);
  }

  copyTo(hash: string, dest: string, reuse?: InputCopy | null): InputCopy {
    // Read and write: on ext4 a file made by copy_file_range costs ~1 ms to unlink later, one
    // written plainly a few microseconds.
    const bytes = this.smallBytes(hash);
    if (bytes !== null) {
      if (reuse && reuse.fd !== null) return overwrite(reuse, dest, bytes);
      if (reuse) closeCopy(reuse, true);
      return writeNew(dest, bytes);
    }
    if (reuse) closeCopy(reuse, true);
    // FICLONE makes this a reflink on filesystems that have them, a kernel-side copy elsewhere.
    copyFileSync(this.pathOf(hash), dest, fsc.COPYFILE_FICLONE);
    chmodSync(dest, 0o444);
    return { path: dest, fd: null, stats: lstatSync(dest) };
  }
}

/** A new read-only file, kept open for writing: created by this open, it needs no write permission. */
function writeNew(dest: string, bytes: Buffer): InputCopy {
  const fd = openSync(dest, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o444);
  try {
    writeAll(fd, bytes);
    return { path: dest, fd, stats: fstatSync(fd) };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Rewrite a copy in place under a new name, through the descriptor it kept. Allocating an inode
 * is the dearest part of making a small file on ext4 (without a journal it scans past every
 * inode deleted in the last minutes), and a step per input would otherwise make and delete one
 * each time. The bytes are written over the old ones and the file cut to length after: a
 * truncation to zero first would make ext4 (auto_da_alloc) flush the file at close, a disk
 * write per step.
 */
function overwrite(old: InputCopy, dest: string, bytes: Buffer): InputCopy {
  const fd = old.fd!;
  old.fd = null;
  try {
    if (old.path !== dest) renameSync(old.path, dest);
    writeAll(fd, bytes);
    ftruncateSync(fd, bytes.length);
    return { path: dest, fd, stats: fstatSync(fd) };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

function writeAll(fd: number, bytes: Buffer): void {
  for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off, off);
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
