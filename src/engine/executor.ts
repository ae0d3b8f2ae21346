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
}

export interface SpawnResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  aborted: boolean;
  /** The script could not be started at all (missing shell, not executable...). */
  spawnError: string | null;
}

export interface Executor {
  run(spec: SpawnSpec): Promise<SpawnResult>;
  /** Release what the executor holds (a helper process) at the end of a run. */
  close?(): void;
}
