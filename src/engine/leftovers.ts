import { readdirSync, readFileSync } from 'node:fs';
import { errnoCode } from '../errors.js';

/**
 * After a kill -9 of the engine its scripts live on (each in its own session). They are
 * found by their environment: every script and whatever it started has TMPDIR inside this
 * db's tmp/. Scanning /proc costs a few ms and happens only when tmp/ shows a crash.
 */
export function killLeftovers(tmpDir: string): number {
  const marker = Buffer.from(`\0TMPDIR=${tmpDir}/`);
  let killed = 0;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return 0; // No /proc: nothing we can find.
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    let environ: Buffer;
    try {
      environ = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${pid}/environ`)]);
    } catch {
      continue; // Gone, or not ours to read.
    }
    if (environ.indexOf(marker) === -1) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
      killed++;
    } catch (err) {
      if (errnoCode(err) !== 'ESRCH') throw err;
    }
  }
  return killed;
}
