import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import type { Stamp } from './input-cache.js';

/** Numbers per file in a chunk's digest: size, mtimeMs, ctimeMs, ino, dev (a plain stat's). */
const STAMP_WIDTH = 5;
/**
 * TASK_PIPELINE_INGEST_BATCH, which makes ingest's batches small for tests of their boundaries,
 * makes chunks small too (2 files on average): a test's small directory then has many.
 */
const SMALL = Boolean(Number(process.env.TASK_PIPELINE_INGEST_BATCH));
/**
 * A chunk ends after a file whose name hashes below this (1 in 16): chunks of 16 files on average,
 * cut where the names say, not at fixed counts. A file added or removed then changes the one chunk
 * it lands in, whatever the order of the walk, and the others keep their digests (input-vouch.ts).
 */
const CUT_BELOW = 2 ** 32 / (SMALL ? 2 : 16);
/** A chunk is cut here whatever the names: the files of one chunk are held while it is open. */
const CHUNK_MAX = 1024;
/** Where chunks are cut, for the C helper that cuts them too (src/executor/native/list-dir.c). */
export const CHUNK_CUTS = { cutBelow: CUT_BELOW, chunkMax: CHUNK_MAX };

/** A chunk of a directory's walk, once it is closed. */
export interface Chunk {
  /** SHA-256 (hex) of its files' names and plain stats, in walk order. */
  digest: string;
  /** How many files it holds. */
  files: number;
  /** The latest mtime or ctime (ms) of its files; NaN if a stat failed. */
  latest: number;
}

/**
 * A directory given with -input, summed up as it is walked: its files, in walk order, cut into
 * chunks where their names say (CUT_BELOW), each chunk the SHA-256 of its files' names and plain
 * stats, and the directory's digest the SHA-256 of its chunks' digests. The same digest, every
 * change in it settled before the summary was recorded (input-cache.ts), is the same files with
 * the same bytes: a re-run needs neither the entry of each file nor the run inputs they are. The
 * same chunk vouches for its files in the same way (input-vouch.ts), so a directory with a few
 * files added is compared file by file only in the chunks they land in. Held in memory: the open
 * chunk, and 32 bytes per closed one (2 bytes a file), in one buffer.
 *
 * A change of this format (or of the walk's order) makes every stored summary differ once: the
 * next run compares its directories file by file, as without a summary, and sums them up anew.
 */
export class DirDigest {
  private readonly stamps = new Float64Array(CHUNK_MAX * STAMP_WIDTH);
  private names: string[] = [];
  private chunkLatest = -Infinity;
  private readonly whole = createHash('sha256');
  private closed = Buffer.alloc(32 * 64);
  private closedBytes = 0;
  private wholeHex: string | null = null;
  /** The latest mtime or ctime (ms) seen: NaN once a stat failed (then nothing is vouched for). */
  latest = -Infinity;

  /**
   * The next file of the walk, with its plain stat (or the bigint one taken at its read: stampOf),
   * null if it failed. Returns the chunk it closes, if it closes one.
   */
  add(name: string, st: Stamp | null): Chunk | null {
    const at = this.names.length * STAMP_WIDTH;
    this.names.push(name);
    if (st === null) {
      this.stamps.fill(NaN, at, at + STAMP_WIDTH);
      this.chunkLatest = NaN;
    } else {
      this.stamps[at] = st.size;
      this.stamps[at + 1] = st.mtimeMs;
      this.stamps[at + 2] = st.ctimeMs;
      this.stamps[at + 3] = st.ino;
      this.stamps[at + 4] = st.dev;
      this.chunkLatest = Math.max(this.chunkLatest, st.mtimeMs, st.ctimeMs);
    }
    this.latest = Math.max(this.latest, this.chunkLatest);
    return nameHash(name) < CUT_BELOW || this.names.length === CHUNK_MAX ? this.close() : null;
  }

  /**
   * A chunk of the walk summed up elsewhere, as add() would have closed it, its files added one by
   * one (the C helper's listing, list-dir.c): only between chunks.
   */
  addChunk(c: Chunk): void {
    if (this.names.length > 0) throw new Error('DirDigest: a chunk added while one is open');
    this.keep(Buffer.from(c.digest, 'hex'));
    this.latest = Math.max(this.latest, c.latest);
  }

  /** Nothing to vouch for (a file was skipped or raced its read). */
  spoil(): void {
    this.latest = NaN;
  }

  /** Close the last chunk (the walk is over); null if it holds no file. */
  close(): Chunk | null {
    if (this.names.length === 0) return null;
    const h = createHash('sha256');
    h.update(`${this.names.join('\0')}\0`);
    h.update(new Uint8Array(this.stamps.buffer, 0, this.names.length * STAMP_WIDTH * 8));
    const digest = h.digest();
    this.keep(digest);
    const chunk = { digest: digest.toString('hex'), files: this.names.length, latest: this.chunkLatest };
    this.names = [];
    this.chunkLatest = -Infinity;
    return chunk;
  }

  /** A closed chunk's digest, into the directory's. */
  private keep(digest: Buffer): void {
    this.whole.update(digest);
    if (this.closedBytes === this.closed.length) {
      const grown = Buffer.alloc(this.closed.length * 2);
      this.closed.copy(grown);
      this.closed = grown;
    }
    digest.copy(this.closed, this.closedBytes);
    this.closedBytes += digest.length;
  }

  /** The directory's digest (hex), once the walk is over. */
  digest(): string {
    this.close();
    this.wholeHex ??= this.whole.digest('hex');
    return this.wholeHex;
  }

  /** Its chunks' digests, 32 bytes each, end to end in walk order, once the walk is over. */
  chunks(): Buffer {
    this.close();
    return this.closed.subarray(0, this.closedBytes);
  }
}

/** FNV-1a over a name's UTF-16 code units: where the name cuts a chunk, the same on every walk. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A bigint stat as the plain stat of the same instant reads it (Node's sec * 1e3 + nsec / 1e6). */
export function stampOf(st: BigIntStats): Stamp {
  const ms = (ns: bigint) => Number(ns / 1_000_000_000n) * 1e3 + Number(ns % 1_000_000_000n) / 1e6;
  return {
    size: Number(st.size),
    mtimeMs: ms(st.mtimeNs),
    ctimeMs: ms(st.ctimeNs),
    ino: Number(st.ino),
    dev: Number(st.dev),
  };
}
