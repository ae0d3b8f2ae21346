import type { NamedObject, ObjectRow } from '../store/metadata-store.js';
import type { LocalObjectStore } from '../store/object-store.js';
import { EMPTY_HASH } from '../store/object-path.js';

/** How a script becomes a process, and what becomes of what it leaves: the C spawner helper, or execa. */
export interface SpawnSpec {
  argv: string[];
  cwd: string;
  /** The script's environment: baseEnv (when given) with env's variables over it. */
  env: Record<string, string>;
  /** Shared by many steps (the engine's environment and the task's `env`): an executor may send it once. */
  baseEnv?: Record<string, string>;
  /** Open files for the script's stdout and stderr: its log, or a file in OUTPUT_DIR for stdout. */
  stdout: number;
  stderr: number;
  /** -verbose: each line the script writes to its log, as it comes (the log gets it too). */
  onLine?: (line: string) => void;
  timeoutMs: number | null;
  /** Aborting means: the run is being interrupted; stop the script. */
  signal: AbortSignal;
  /** Called when the script has started (a run may wait in the executor's queue before). */
  onStart?: () => void;
  /** Where the step's files are and where they go once the script has ended. */
  files: StepFiles;
}

export interface StepFiles {
  store: LocalObjectStore;
  outDir: string;
  /** The file stderr goes to (the log), by path. */
  log: string;
  /** The object INPUT_FILE is a hard link of, and its inode as the script must leave it (InputLinks.expected). */
  input: { path: string; state: string };
}

export interface StoredOutput extends NamedObject {
  /** false when the store already had these bytes. */
  added: boolean;
}

/**
 * What the executor stored once the script ended, by one contract (collect-outputs.ts, and
 * native/collect.c): the log always; the outputs when it exited 0 and left its input intact.
 */
export interface Collected {
  /** false: the input object's inode is not as expected: only the log was stored, OUTPUT_DIR is as the script left it. */
  inputIntact: boolean;
  outputs: StoredOutput[];
  /** null: the log could not be stored (error says why). */
  log: ObjectRow | null;
  /** Why the outputs or the log could not be stored (a bad entry, a full disk), in the user's words. */
  error: string | null;
}

/** What the script's process tree cost, as the kernel reports it when the script is reaped (wait4). */
export interface Rusage {
  userMs: number;
  sysMs: number;
  maxRssKb: number;
}

export interface SpawnResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  aborted: boolean;
  /** The script could not be started at all (missing shell, not executable...). */
  spawnError: string | null;
  stored: Collected;
  /** null where it is not measured: the execa fallback, and a script that never ran. */
  rusage: Rusage | null;
}

export interface Executor {
  run(spec: SpawnSpec): Promise<SpawnResult>;
  /** Release what the executor holds (a helper process) at the end of a run. */
  close?(): void;
}

/** Nothing stored: the script never ran (its log is empty), or its helper died (the engine checks its input). */
export const NOTHING_STORED: Collected = {
  inputIntact: false,
  outputs: [],
  log: { hash: EMPTY_HASH, size: 0 },
  error: null,
};

/** A run that ended before its script started (interrupted while it waited its turn). */
export function notStarted(aborted: boolean, spawnError: string | null = null): SpawnResult {
  return { exitCode: null, signal: null, timedOut: false, aborted, spawnError, stored: NOTHING_STORED, rusage: null };
}
