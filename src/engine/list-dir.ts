import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Stamp } from '../store/input-cache.js';
import type { Chunk } from '../store/input-summary.js';
import { NATIVE_HELPER } from '../executor/shipped.js';
import { helperUsable } from '../executor/spawner-protocol.js';

/** A directory's entry as the C helper listed it (native/list-dir.c). */
export interface Listed {
  name: string;
  kind: 'f' | 'n' | 'd' | 'x';
  /** A file's stat ('f'); null for a file whose stat failed ('n'). */
  stamp: Stamp | null;
}

/**
 * A chunk of a directory's summary (input-summary.ts) that the C helper cut and summed up: its
 * files' records, decoded when asked (chunkEntries), for a chunk the summary does not know.
 */
export interface ListedChunk extends Chunk {
  entries: Buffer;
}

/** How the helper may cut a directory into chunks: the summary's and the walk's limits. */
export interface Chunking {
  cutBelow: number;
  chunkMax: number;
  sortedMax: number;
}

/** A listing: its entries one by one, or, for a directory the helper could cut, its chunks. */
export type Listing =
  { chunked: false; entries: AsyncGenerator<Listed[]> } | { chunked: true; chunks: AsyncGenerator<ListedChunk[]> };

/** The bytes of a file's record after its name: seven doubles. */
const STAT_BYTES = 56;
/** A chunk's record before its files': their count, the digest in hex, the latest change, their records' length. */
const CHUNK_HEAD = 1 + 4 + 64 + 8 + 4;

/**
 * The entries of one directory with the stats of its files, listed by the C helper, a batch at a
 * time as it writes them: its stats, relative to the directory and taken by one thread per core,
 * cost less than Node's (which also builds a `Stats` and four `Date`s per file), and the check
 * works through one batch while the helper stats the next. Null where the helper was not built or
 * could not read the directory (it then writes nothing): the walk does it all itself, and reports
 * what failed. A listing cut short after its first batch (the helper killed) throws. A listing
 * is read to its end or returned (which stops the helper): until then the helper keeps Node running.
 */
export async function listDir(dir: string, chunking?: Chunking): Promise<Listing | null> {
  if (!helperUsable()) return null;
  const limits = chunking ? [chunking.cutBelow, chunking.chunkMax, chunking.sortedMax].map(String) : [];
  const child = spawn(NATIVE_HELPER, ['--list', dir, ...limits], { stdio: ['ignore', 'pipe', 'ignore'] });
  // Its exit is awaited after its output, from the start: neither event can be missed.
  const exited = once(child, 'close').then(
    ([code, signal]) => (code === 0 ? null : String(signal ?? `exit ${code}`)),
    (err: Error) => err.message,
  );
  const chunks = child.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await chunks.next().catch(() => ({ done: true, value: undefined }) as const);
  // Nothing written: an empty directory (exit 0), or one the helper could not read.
  if (first.done) return (await exited) === null ? { chunked: false, entries: empty() } : null;
  const kill = () => child.kill('SIGKILL');
  const items = decoded(dir, first.value, chunks, exited, kill);
  // A generator returned before its first batch never runs its body: the helper is stopped here too.
  const returned = items.return.bind(items);
  items.return = (value) => {
    kill();
    return returned(value);
  };
  // The helper cuts a directory into chunks whole, or not at all.
  return first.value[0] === CHUNK
    ? { chunked: true, chunks: items as AsyncGenerator<ListedChunk[]> }
    : { chunked: false, entries: items as AsyncGenerator<Listed[]> };
}

const CHUNK = 'c'.charCodeAt(0);

async function* empty(): AsyncGenerator<Listed[]> {}

/** The files of a chunk, decoded. */
export function chunkEntries(c: ListedChunk): Listed[] {
  return records(c.entries)[0] as Listed[];
}

async function* decoded(
  dir: string,
  head: Buffer,
  chunks: AsyncIterator<Buffer>,
  exited: Promise<string | null>,
  kill: () => void,
): AsyncGenerator<(Listed | ListedChunk)[]> {
  let done = false;
  try {
    let rest = head;
    for (;;) {
      const [batch, used] = records(rest);
      if (batch.length > 0) yield batch;
      rest = rest.subarray(used);
      const next = await chunks.next();
      if (next.done) break;
      rest = rest.length === 0 ? next.value : Buffer.concat([rest, next.value]);
    }
    const failed = await exited;
    done = true;
    if (failed !== null || rest.length > 0)
      throw new Error(`the C helper's listing of ${dir} ended early (${failed ?? 'a record cut short'})`);
  } finally {
    // The check stopped early (a bad name in the directory): the rest of the listing is not needed.
    if (!done) kill();
  }
}

/** The whole records at the start of buf, decoded, and how many bytes they take. */
function records(buf: Buffer): [(Listed | ListedChunk)[], number] {
  const out: (Listed | ListedChunk)[] = [];
  let at = 0;
  while (at + 5 <= buf.length) {
    if (buf[at] === CHUNK) {
      if (at + CHUNK_HEAD > buf.length) break;
      const end = at + CHUNK_HEAD + buf.readUInt32LE(at + CHUNK_HEAD - 4);
      if (end > buf.length) break;
      out.push({
        files: buf.readUInt32LE(at + 1),
        digest: buf.toString('latin1', at + 5, at + 69),
        latest: buf.readDoubleLE(at + 69),
        entries: buf.subarray(at + CHUNK_HEAD, end),
      });
      at = end;
      continue;
    }
    const kind = String.fromCharCode(buf[at]!) as Listed['kind'];
    const len = buf.readUInt32LE(at + 1);
    const end = at + 5 + len + (kind === 'f' ? STAT_BYTES : 0);
    if (end > buf.length) break;
    const name = buf.toString('utf8', at + 5, at + 5 + len);
    let stamp: Stamp | null = null;
    if (kind === 'f') {
      const f = (i: number) => buf.readDoubleLE(at + 5 + len + i * 8);
      // As Node computes a Stats' mtimeMs and ctimeMs from the seconds and nanoseconds.
      stamp = { size: f(0), mtimeMs: f(1) * 1e3 + f(2) / 1e6, ctimeMs: f(3) * 1e3 + f(4) / 1e6, ino: f(5), dev: f(6) };
    }
    out.push({ name, kind, stamp });
    at = end;
  }
  return [out, at];
}
