import { errnoCode } from '../errors.js';

/**
 * Every script runs as the leader of its own process group, so that a timeout or an
 * interrupt reaches whatever the script started (pipelines, background jobs), not just
 * the shell. This registry lets a second Ctrl-C or the engine's exit reach them all.
 */
export class ProcessGroups {
  private readonly live = new Set<number>();

  add(pid: number): void {
    this.live.add(pid);
  }

  remove(pid: number): void {
    this.live.delete(pid);
  }

  get size(): number {
    return this.live.size;
  }

  signalAll(signal: NodeJS.Signals): void {
    for (const pid of this.live) signalGroup(pid, signal);
  }
}

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if (errnoCode(err) !== 'ESRCH') throw err;
  }
}
