import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Stamp } from '../store/input-cache.js';
import { NATIVE_HELPER } from '../executor/shipped.js';
import { helperUsable } from '../executor/spawner-protocol.js';

/** A directory's entry as the C helper listed it (native/list-dir.c). */
export interface Listed {
  name: string;
  kind: 'f' | 'n' | 'd' | 'x';
  /** A file's stat ('f'); null for a file whose stat failed ('n'). */
  stamp: Stamp | null;
}

/** The bytes of a file's record after its name: seven doubles. */
const STAT_BYTES = 56;

/**
 * The entries of one directory with the stats of its files, listed by the C helper, a batch at a
 * time as it writes them: its stats, relative to the directory and taken by one thread per core,
 * cost less than Node's (which also builds a `Stats` and four `Date`s per file), and the check
 * works through one batch while the helper stats the next. Null where the helper was not built or
 * could not read the directory (it then writes nothing): the walk does it all itself, and reports
 * what failed. A listing cut short after its first batch (the helper killed) throws.
 */
export async function listDir(dir: string): Promise<AsyncGenerator<Listed[]> | null> {
  if (!helperUsable()) return null;
  const child = spawn(NATIVE_HELPER, ['--list', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
  // Its exit is awaited after its output, from the start: neither event can be missed.
  const exited = once(child, 'close').then(
    ([code, signal]) => (code === 0 ? null : String(signal ?? `exit ${code}`)),
    (err: Error) => err.message,
  );
  const chunks = child.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await chunks.next().catch(() => ({ done: true, value: undefined }) as const);
  // Nothing written: an empty directory (exit 0), or one the helper could not read.
  if (first.done) return (await exited) === null ? empty() : null;
  return decoded(dir, first.value, chunks, exited, () => child.kill('SIGKILL'));
}

async function* empty(): AsyncGenerator<Listed[]> {}

async function* decoded(
  dir: string,
  head: Buffer,
  chunks: AsyncIterator<Buffer>,
  exited: Promise<string | null>,
  kill: () => void,
): AsyncGenerator<Listed[]> {
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
function records(buf: Buffer): [Listed[], number] {
  const out: Listed[] = [];
  let at = 0;
  while (at + 5 <= buf.length) {
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
