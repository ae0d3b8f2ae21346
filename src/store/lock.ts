import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { UserError, errnoCode } from '../errors.js';

/**
 * The db lock: a file created exclusively holding the owner's pid. A lock whose pid is
 * no longer alive was left by a crash and is taken over without asking.
 */
export class DbLock {
  private held = false;
  constructor(readonly path: string) {}

  acquire(): void {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(this.path, `${process.pid}\n`, { flag: 'wx' });
        this.held = true;
        return;
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
      }
      const pid = readPid(this.path);
      if (pid !== undefined && pid !== process.pid && isAlive(pid)) {
        throw new UserError('ELOCKED', `${this.path} is held by running process ${pid}: another run is using this db`);
      }
      // Stale: its owner is gone. Remove it and race for it again.
      try {
        unlinkSync(this.path);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
    }
    throw new UserError('ELOCKED', `${this.path}: could not take the lock`);
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      if (readPid(this.path) === process.pid) unlinkSync(this.path);
    } catch {
      // Nothing to do: a missing lock is already released.
    }
  }
}

function readPid(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}
