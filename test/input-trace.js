// What the tests of the stat cache of -input share, on either engine: waiting out its racy margin, and
// a run under strace, to see which input files it opened.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { RACY_MARGIN_MS } from '../dist/store/input-cache.js';
import { CLI } from './helpers.js';

export { RACY_MARGIN_MS };
export const HAS_STRACE = spawnSync('sh', ['-c', 'command -v strace']).status === 0;

/** Wait until the files last changed more than the racy margin ago: a run may then trust their stat. */
export async function settle(paths) {
  const last = Math.max(...paths.map((p) => Number(statSync(p, { bigint: true }).ctimeNs / 1_000_000n)));
  const wait = last + RACY_MARGIN_MS + 50 - Date.now();
  if (wait > 0) await sleep(wait);
}

/** The CLI run under strace, its trace written to `trace`: every path the engine (or a script) opened. */
export function tracedRun(args, trace) {
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=open,openat', '-o', trace, process.execPath, CLI, ...args], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const opened = new Set(
    [...readFileSync(trace, 'utf8').matchAll(/open(?:at)?\((?:AT_FDCWD, )?"([^"]*)"/g)].map((m) => m[1]),
  );
  return { stdout: r.stdout, opened };
}
