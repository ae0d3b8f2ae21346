import { createHash } from 'node:crypto';
import type { TaskSpec } from './types.js';

/**
 * JSON with object keys sorted at every depth and no whitespace, so equal values always give equal text
 * (and equal hashes) whatever order the manifest wrote them in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} has no JSON form`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: cannot encode a ${typeof value}`);
}

/**
 * A task's version: only the fields that change what a step computes. The spec is already resolved,
 * so an explicit default shell and an omitted one hash the same; parallel, timeout, retries, inputs,
 * match and max_rounds only change scheduling or routing, so editing them reuses every finished step.
 * The bytes of the `files` the script uses count too ({path: sha256}), only when it lists some, so a
 * task without `files` keeps the version it had before `files` existed.
 */
export function taskVersion(t: TaskSpec): string {
  const identity = {
    script: t.script,
    shell: t.shell,
    env: t.env,
    stdout: t.stdout,
    files: filesOf(t),
    protocol: protocolOf(t),
  };
  return createHash('sha256').update(canonicalJson(identity)).digest('hex');
}

/** `protocol` as it enters a version: only "lines"; the default leaves existing versions as they were. */
export function protocolOf(t: Pick<TaskSpec, 'protocol'>): 'lines' | undefined {
  return t.protocol === 'lines' ? 'lines' : undefined;
}

/** `files` as it enters a version: {path: sha256}, or undefined (left out) when there are none. */
export function filesOf(t: Pick<TaskSpec, 'files'>): Record<string, string> | undefined {
  if (t.files === undefined || t.files.length === 0) return undefined;
  return Object.fromEntries(t.files.map((f) => [f.path, f.hash]));
}
