/**
 * The numbers that tune the leaf stream and its writes, in one place. Measurements behind them
 * are in bench/PROFILE.md; the spawner helper's own batching (it refills below 32 queued requests
 * and holds replies a few ms) is tuned to LAUNCH_AHEAD and lives with it in spawner-executor.ts.
 */
export interface Tuning {
  /** Pending steps read from the db per task at a time: memory stays bounded at any db size. */
  pageSize: number;
  /**
   * Steps handed to the executor beyond those running, at least (`-parallel` if larger): a script
   * starts the moment another exits, even while the engine is busy in a commit, and the spawner
   * helper gets its requests in batches instead of one write per step.
   */
  launchAhead: number;
  /**
   * The launch-ahead of a run's first steps: it grows by one per four scripts exited, up to
   * launchAhead. Each step handed over holds a working directory (work-slots.ts), four mkdirs to
   * make and four rmdirs at the end: a run of a hundred steps need not make sixty-six of them
   * before its first script starts.
   */
  launchAheadFirst: number;
  /** Finished steps whose outputs are being stored, per `-parallel`, before new steps wait: big outputs can lag. */
  storeBacklog: number;
  /** A failed step with `retries` left runs again after this, doubled per attempt... */
  retryBaseMs: number;
  /** ...up to this. */
  retryMaxMs: number;
  /**
   * A batch of writes is committed at the latest this long after its first write: bigger batches
   * share the index pages each step dirties (fewer WAL writes per step)...
   */
  batchMs: number;
  /** ...or as soon as it holds this many writes. */
  batchMax: number;
}

export const TUNING: Readonly<Tuning> = Object.freeze({
  pageSize: 256,
  launchAhead: 64,
  launchAheadFirst: 8,
  storeBacklog: 2,
  retryBaseMs: 250,
  retryMaxMs: 10_000,
  batchMs: 100,
  batchMax: 512,
});

/** The wait before attempt `tries + 1` of a failed step: 0.25 s, 0.5 s, 1 s ... at most 10 s. */
export function backoffMs(tries: number, t: Pick<Tuning, 'retryBaseMs' | 'retryMaxMs'> = TUNING): number {
  return Math.min(t.retryMaxMs, t.retryBaseMs * 2 ** (tries - 1));
}
