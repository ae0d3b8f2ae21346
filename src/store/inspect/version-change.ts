// What made a task's version new: its stored definition (canonical JSON of {script, shell, env, stdout,
// files?}) against the one of the version before it.
import { value, type Query } from './query.js';

// Fields in the order a person reads a task; any other key a later definition gains follows, sorted.
const FIELD_ORDER = ['script', 'shell', 'env', 'stdout'];

/**
 * The fields that differ between two definitions, in reading order, then `files` per path:
 * "files: PATH" (its bytes changed), "files: +PATH" (newly listed), "files: -PATH" (no longer listed).
 * Both are canonical JSON, so equal values have equal text at every depth. A definition that does not
 * parse as an object (a damaged row) is reported as "definition".
 */
export function versionChange(previousDefinition: string, currentDefinition: string): string[] {
  const before = parseDefinition(previousDefinition);
  const after = parseDefinition(currentDefinition);
  if (before === null || after === null) return previousDefinition === currentDefinition ? [] : ['definition'];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  keys.delete('files');
  const rank = (k: string) => (FIELD_ORDER.includes(k) ? FIELD_ORDER.indexOf(k) : FIELD_ORDER.length);
  const fields = [...keys].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const changed = fields.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  return [...changed, ...filesChange(filesOf(before.files), filesOf(after.files))];
}

function filesChange(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const paths = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const out: string[] = [];
  for (const path of paths) {
    if (!Object.hasOwn(before, path)) out.push(`files: +${path}`);
    else if (!Object.hasOwn(after, path)) out.push(`files: -${path}`);
    else if (before[path] !== after[path]) out.push(`files: ${path}`);
  }
  return out;
}

function parseDefinition(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

// Definitions without `files` (no files listed, or written before `files` existed) list none.
function filesOf(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

export interface PreviousVersionChange {
  /** The previous version's hash. */
  version: string;
  changed: string[];
}

const VERSION_CHANGE_SQL = {
  definition: `SELECT definition FROM task WHERE id = ?`,
  // The highest id below the current one with the same name: the version made just before it.
  previous: `SELECT version, definition FROM task WHERE name = ? AND id < ? ORDER BY id DESC LIMIT 1`,
};

/** The version a task had before this one and what changed since, or null when it is the first. */
export async function previousVersionChange(
  q: Query,
  taskName: string,
  currentTaskId: number,
): Promise<PreviousVersionChange | null> {
  const current = await value<string>(q, VERSION_CHANGE_SQL.definition, [currentTaskId]);
  if (current === undefined) return null;
  const previous = await q.get<{ version: string; definition: string }>(VERSION_CHANGE_SQL.previous, [
    taskName,
    currentTaskId,
  ]);
  if (previous === undefined) return null;
  return { version: previous.version, changed: versionChange(previous.definition, current) };
}
