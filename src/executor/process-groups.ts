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

/** SIGTERM first; whatever ignores it for this long gets SIGKILL. */
export const KILL_GRACE_MS = 3000;

/**
 * Stop a script's process group: SIGTERM now, SIGKILL after the grace period. Returns the
 * pending SIGKILL timer (unref'd) so that a caller whose script exits in time can clear it;
 * pass the timer from an earlier call to escalate only once.
 */
export function terminateGroup(pid: number, graceMs: number, pending?: NodeJS.Timeout): NodeJS.Timeout {
  signalGroup(pid, 'SIGTERM');
  if (pending) return pending;
  const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
  timer.unref();
  return timer;
}
