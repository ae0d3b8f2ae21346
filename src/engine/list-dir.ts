import { spawnSync } from 'node:child_process';
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

/** A listing bigger than this is not worth holding (the walk then lists and stats the directory itself). */
const MAX_BYTES = 64 << 20;

/**
 * The entries of one directory with the stats of its files, listed by the C helper: its stats,
 * relative to the directory, cost the kernel less than Node's (which also builds a `Stats` and
 * four `Date`s per file), and they run in another process. Null where the helper was not built
 * or could not read the directory: the walk then does it all itself, and reports what failed.
 */
export function listDir(dir: string): Buffer | null {
  if (!helperUsable()) return null;
  const r = spawnSync(NATIVE_HELPER, ['--list', dir], { maxBuffer: MAX_BYTES, stdio: ['ignore', 'pipe', 'ignore'] });
  return r.error || r.status !== 0 ? null : r.stdout;
}

/** The listing's entries, in the helper's (the directory's) order, decoded one at a time. */
export function* listed(buf: Buffer): Generator<Listed> {
  for (let at = 0; at < buf.length;) {
    const kind = String.fromCharCode(buf[at]!) as Listed['kind'];
    const len = buf.readUInt32LE(at + 1);
    const name = buf.toString('utf8', at + 5, at + 5 + len);
    at += 5 + len;
    let stamp: Stamp | null = null;
    if (kind === 'f') {
      const f = (i: number) => buf.readDoubleLE(at + i * 8);
      // As Node computes a Stats' mtimeMs and ctimeMs from the seconds and nanoseconds.
      stamp = { size: f(0), mtimeMs: f(1) * 1e3 + f(2) / 1e6, ctimeMs: f(3) * 1e3 + f(4) / 1e6, ino: f(5), dev: f(6) };
      at += 56;
    }
    yield { name, kind, stamp };
  }
}
