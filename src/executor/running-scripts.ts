import { readdirSync, readFileSync } from 'node:fs';
import { errnoCode } from '../errors.js';

/**
 * The scripts of a db are found by their environment: every script and whatever it starts
 * has TMPDIR inside the db's tmp/ (its slot's scratch/, see work-slots.ts) and its STEP_ID.
 * Scanning /proc costs a few ms; it is done only after a crash and by `log` of a running step.
 */
function eachScript(tmpDir: string, visit: (pid: number, environ: Buffer) => void): void {
  const marker = Buffer.from(`\0TMPDIR=${tmpDir}/`);
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return; // No /proc: nothing we can find.
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    let environ: Buffer;
    try {
      environ = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${pid}/environ`)]);
    } catch {
      continue; // Gone, or not ours to read.
    }
    if (environ.indexOf(marker) !== -1) visit(Number(pid), environ);
  }
}

/** After a kill -9 of the engine its scripts live on (each in its own session): kill them. */
export function killLeftovers(tmpDir: string): number {
  let killed = 0;
  eachScript(tmpDir, (pid) => {
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch (err) {
      if (errnoCode(err) !== 'ESRCH') throw err;
    }
  });
  return killed;
}

/**
 * The working directory of a step whose script is running now (tmp/slot-<n>/, where its log
 * grows), or null: not running, or its script has exited and its outputs are being stored.
 */
export function runningStepDir(tmpDir: string, stepId: number): string | null {
  const id = Buffer.from(`\0STEP_ID=${stepId}\0`);
  const prefix = `\0TMPDIR=${tmpDir}/`;
  let found: string | null = null;
  eachScript(tmpDir, (_pid, environ) => {
    if (found !== null || environ.indexOf(id) === -1) return;
    const at = environ.indexOf(prefix) + prefix.length;
    const slot = environ.subarray(at, environ.indexOf(0, at)).toString().split('/')[0];
    if (slot) found = `${tmpDir}/${slot}`;
  });
  return found;
}
