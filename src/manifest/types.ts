// The validated manifest: every field resolved to its default, so the engine never re-checks the TOML.

export interface TaskSpec {
  name: string;
  script: string;
  /** Resolved: omitted => [previous task's name] ([] for the first task); explicit [] => a root. */
  inputs: string[];
  /** Globs on output names; null when omitted (everything flows in). */
  match: string[] | null;
  /** Positive integer, or null for no per-task limit. */
  parallel: number | null;
  /** Seconds (fractions allowed), or null for none. */
  timeout: number | null;
  /** Non-negative integer, default 0. */
  retries: number;
  env: Record<string, string>;
  /** Default ["bash", "-euo", "pipefail", "-c"]; the script is appended as one argument. */
  shell: string[];
  /** Output name that receives the captured stdout, or null. */
  stdout: string | null;
  gather: boolean;
  /**
   * How the script is run: "oneshot" (default), a process per step; "lines", one long-lived process
   * per concurrency slot, fed one JSON line per step on stdin (src/executor/lines/).
   */
  protocol: Protocol;
  /**
   * The files the script uses (`files` globs expanded at load): paths relative to the manifest's
   * directory, "/"-separated, sorted, each with the SHA-256 of its bytes. Part of the version.
   */
  files: TaskFile[];
  /** Positive integer, default 1000. */
  maxRounds: number;
  /** 1-based line of the task's [[task]] header, null for an inline `task = [...]`. */
  line: number | null;
  /** Position in the file, 0-based. */
  index: number;
}

export type Protocol = 'oneshot' | 'lines';

export interface TaskFile {
  path: string;
  hash: string;
}

export interface Manifest {
  /** Absolute path of the manifest file. */
  path: string;
  /** Absolute directory holding the manifest: the scripts' working directory. */
  dir: string;
  tasks: TaskSpec[];
}

export const DEFAULT_SHELL: readonly string[] = Object.freeze(['bash', '-euo', 'pipefail', '-c']);

export const DEFAULT_MAX_ROUNDS = 1000;
