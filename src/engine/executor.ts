/** How a script becomes a process. One interface so that faster spawn paths can be measured against execa. */
export interface SpawnSpec {
  argv: string[];
  cwd: string;
  /** The script's environment: baseEnv (when given) with env's variables over it. */
  env: Record<string, string>;
  /** Shared by many steps (the engine's environment and the task's `env`): an executor may send it once. */
  baseEnv?: Record<string, string>;
  /** A file descriptor to write into directly, or 'pipe' to receive the bytes through onOutput. */
  stdout: number | 'pipe';
  stderr: number | 'pipe';
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  timeoutMs: number | null;
  /** Aborting means: the run is being interrupted; stop the script. */
  signal: AbortSignal;
  /** Called when the script has started (a run may wait in the executor's queue before). */
  onStart?: () => void;
  /**
   * What to store if the script exits 0, for an executor that can store outputs where it ran
   * (the C spawner helper); others ignore it, and the engine stores them (execute-step.ts).
   */
  collect?: CollectSpec;
}

export interface CollectSpec {
  objects: string;
  outDir: string;
  /** The file INPUT_FILE is a hard link of (the object's; its own, when it is a private copy) ... */
  input: string;
  /** ... and its inode as the script must leave it: `ino size mtime_ns ctime_ns mode` (InputLinks.expected). */
  inputState: string;
  log: string;
  durable: boolean;
}

/** What the executor stored for a step whose script exited 0 (see native/collect.c). */
export interface Collected {
  /** changed: the input's inode is not as inputState said (nothing was stored but the log: the engine looks closer). */
  result: 'ok' | 'changed' | 'bad' | 'err';
  outputs: { name: string; hash: string; size: number; added: boolean }[];
  /** null: the log failed to be stored (the error says why); size 0: the empty log, left in place. */
  log: { hash: string; size: number } | null;
  /** bad: [kind, entry]; err: [stage, errno name, message]. */
  detail: string[];
}

/** What the script's process tree cost, as the kernel reports it when the script is reaped (wait4). */
export interface Rusage { userMs: number; sysMs: number; maxRssKb: number }

export interface SpawnResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  aborted: boolean;
  /** The script could not be started at all (missing shell, not executable...). */
  spawnError: string | null;
  /** null when the executor does not measure it. */
  rusage: Rusage | null;
  /** Set when the executor stored the step's outputs and log itself. */
  collected?: Collected;
}

export interface Executor {
  run(spec: SpawnSpec): Promise<SpawnResult>;
  /** Release what the executor holds (a helper process) at the end of a run. */
  close?(): void;
}
