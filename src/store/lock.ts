import { randomBytes } from 'node:crypto';
import { linkSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError, errnoCode } from '../errors.js';

/** How long a start-up keeps trying while other processes race for a stale lock. */
const RACE_LIMIT_MS = 10_000;

/**
 * The db lock: a file holding the owner's pid. A lock whose pid is no longer alive was left by
 * a crash and is taken over without asking.
 *
 * The lock appears under its name complete: the pid is written to a file of our own first,
 * which is then hard-linked to `lock` (EEXIST if there is one), so no reader ever sees an empty
 * lock and judges it stale.
 *
 * Taking over a stale lock must never replace one that another process has just taken (two
 * starters that both saw the dead pid would otherwise both run). A taker pins the stale lock's
 * file with a hard link of its own (`lock.take.<pid>.<nonce>`) and reads the pid through it:
 * the pinned file cannot change under it, nor its inode number be reused. It replaces `lock`
 * (a rename: never a moment without a lock, so no plain start-up slips in) only when the pinned
 * file has exactly two names, `lock` and its pin, and `lock` is still that file. A second
 * taker's pin makes three names, and both back off and look again; `lock` never names a file
 * it left before, so the check cannot pass for two takers at once, and a taker whose check
 * passed is the only one until its rename. A pin left by a taker that died (its pid in the
 * name is gone) is removed by the next taker, which is safe: no live process owns that name.
 */
export class DbLock {
  private held = false;
  constructor(readonly path: string) {}

  acquire(): void {
    const dir = dirname(this.path);
    const candidate = join(dir, `${basename(this.path)}.new.${process.pid}.${randomBytes(6).toString('hex')}`);
    try {
      writeFileSync(candidate, `${process.pid}\n`, { flag: 'wx' });
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'EROFS' && code !== 'EACCES' && code !== 'EPERM') throw err;
      throw new UserError(
        'ELOCKED',
        `${this.path}: cannot take the lock: ${dir} is not writable (${code}); ` +
          'the inspection commands (status, ls, cat, show, lineage, log, export, fsck) work on a read-only db',
        { cause: err },
      );
    }
    const deadline = Date.now() + RACE_LIMIT_MS;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          linkSync(candidate, this.path);
          this.held = true;
          return;
        } catch (err) {
          if (errnoCode(err) !== 'EEXIST') throw err;
        }
        if (this.takeOver(candidate)) {
          this.held = true;
          return;
        }
        if (Date.now() > deadline) {
          throw new UserError(
            'ELOCKED',
            `${this.path}: could not take the lock: other processes kept racing for it for ${RACE_LIMIT_MS / 1000} s`,
          );
        }
        // Takers that met back off for a random while, so that one of them finds itself alone.
        sleep(1 + Math.random() * Math.min(attempt, 10) * 2);
      }
    } finally {
      // After a link the lock has its own name; after a rename the candidate is already gone.
      unlinkQuietly(candidate);
    }
  }

  /**
   * Replace a stale lock with the candidate. True when taken; false to race again (the lock
   * went, or another taker is at it); throws when a live process holds it.
   */
  private takeOver(candidate: string): boolean {
    const pin = join(
      dirname(this.path),
      `${basename(this.path)}.take.${process.pid}.${randomBytes(6).toString('hex')}`,
    );
    try {
      linkSync(this.path, pin);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
    try {
      const pid = readPid(pin);
      if (pid !== undefined && pid !== process.pid && isAlive(pid)) {
        throw new UserError('ELOCKED', `${this.path} is held by running process ${pid}: another run is using this db`);
      }
      // The number of names first, then where `lock` points: see the class comment for why this order.
      const pinned = statSync(pin, { bigint: true });
      if (pinned.nlink !== 2n) {
        this.removeDeadPins();
        return false;
      }
      const current = statSync(this.path, { bigint: true, throwIfNoEntry: false });
      if (!current || current.ino !== pinned.ino || current.dev !== pinned.dev) return false;
      renameSync(candidate, this.path);
      return true;
    } finally {
      unlinkQuietly(pin);
    }
  }

  /** The candidates and pins of processes that died before removing them. */
  private removeDeadPins(): void {
    const dir = dirname(this.path);
    const pattern = new RegExp(
      `^${basename(this.path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(new|take)\\.(\\d+)\\.[0-9a-f]+$`,
    );
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = pattern.exec(name);
      if (!m) continue;
      const pid = Number(m[2]);
      if (pid !== process.pid && !isAlive(pid)) unlinkQuietly(join(dir, name));
    }
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

/** The lock, and the candidates and pins of processes racing for it, beside it in the db directory. */
export function isLockName(name: string): boolean {
  return name === 'lock' || /^lock\.(new|take)\.\d+\.[0-9a-f]+$/.test(name);
}

function readPid(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** A zombie is dead: an engine killed with -9 stays one until its parent reaps it, perhaps never in a container. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch (err) {
    // No /proc here: signal 0 is all there is. Gone meanwhile: dead.
    return errnoCode(err) !== 'ENOENT' || !statSync('/proc/self', { throwIfNoEntry: false });
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
