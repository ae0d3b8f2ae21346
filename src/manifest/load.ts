import { dirname, resolve } from 'node:path';
import { checkGraph } from './check-graph.js';
import { checkTask, type TaskDraft } from './check-task.js';
import { describeValue } from './describe-value.js';
import { ManifestError, type ManifestProblem } from './errors.js';
import { resolveFiles } from './files.js';
import { isOnPath, isShebangScript } from './on-path.js';
import { parseManifestText, readManifestText } from './read-toml.js';
import { didYouMean } from '../edit-distance.js';
import { scanLines, type TomlLines } from './toml-lines.js';
import { DEFAULT_MAX_ROUNDS, DEFAULT_SHELL, type Manifest, type TaskFile, type TaskSpec } from './types.js';

/**
 * Reads, parses and validates a manifest. Throws one ManifestError listing every problem found, so a
 * user fixes them all in one pass; nothing is partially accepted.
 */
export function loadManifest(path: string): Manifest {
  const text = readManifestText(path);
  const doc = parseManifestText(path, text);
  const lines = scanLines(text);
  const problems: ManifestProblem[] = [];
  const add = (line: number | null, task: string | null, field: string | null, message: string): void => {
    problems.push({ file: path, line, task, field, message });
  };

  for (const key of Object.keys(doc)) {
    if (key !== 'task')
      add(lines.topKeys.get(key) ?? null, null, key, `unknown top-level key${didYouMean(key, ['task'])}`);
  }
  const rawTasks = taskArray(doc, lines, add);
  const lineOf = taskLineLookup(lines, rawTasks.length);

  const drafts = rawTasks.map((raw, index) =>
    checkTask(raw, index, (label) => (field, message) => add(lineOf(index, field), label, field, message)),
  );
  checkGraph(drafts, lineOf, (d, field, message) => add(lineOf(d.index, field), d.label, field, message));

  const abs = resolve(path);
  const dir = dirname(abs);
  const files = new Map<number, TaskFile[]>();
  let bash: boolean | undefined;
  for (const d of drafts) {
    const report = (field: string) => (message: string) => add(lineOf(d.index, field), d.label, field, message);
    if (d.files !== undefined) {
      const resolved = resolveFiles(d.files, dir, report('files'));
      if (resolved !== undefined) files.set(d.index, resolved);
    }
    // The default shell is bash; a task that names its own shell, or a shebang script, does not need it.
    if (!d.keys.has('shell') && d.script !== undefined && !isShebangScript(d.script) && !(bash ??= isOnPath('bash'))) {
      report('shell')('bash is not installed (not on PATH); set shell = ["sh", "-e", "-c"] or install bash');
    }
  }

  if (problems.length > 0) throw new ManifestError(inLineOrder(problems));
  return { path: abs, dir, tasks: drafts.map((d) => toSpec(d, drafts, lines, files.get(d.index) ?? [])) };
}

function taskArray(
  doc: Record<string, unknown>,
  lines: TomlLines,
  add: (line: number | null, task: null, field: string | null, message: string) => void,
): unknown[] {
  const line = lines.topKeys.get('task') ?? null;
  if (!('task' in doc)) {
    add(null, null, null, 'no tasks: a manifest needs at least one [[task]]');
    return [];
  }
  if (!Array.isArray(doc.task)) {
    add(line, null, 'task', `must be an array of tables ([[task]]), got ${describeValue(doc.task)}`);
    return [];
  }
  if (doc.task.length === 0) add(line, null, 'task', 'no tasks: a manifest needs at least one [[task]]');
  return doc.task;
}

// Headers are matched to tasks by position; if the counts differ (an inline `task = [...]`), positions
// would lie, so every task falls back to the line of the `task` key.
function taskLineLookup(lines: TomlLines, count: number): (index: number, field: string | null) => number | null {
  const byHeader = lines.taskHeaders.length === count;
  const fallback = lines.topKeys.get('task') ?? null;
  return (index, field) => {
    if (!byHeader) return fallback;
    return (field === null ? undefined : lines.taskKeys[index]!.get(field)) ?? lines.taskHeaders[index]!;
  };
}

// Per-task checks run before the cross-task ones; sorting restores the reading order of the file.
// File-wide problems without a line come first. Array.prototype.sort is stable.
function inLineOrder(problems: ManifestProblem[]): ManifestProblem[] {
  return [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

// Only called once there are no problems, so every required field is present and valid.
function toSpec(d: TaskDraft, drafts: readonly TaskDraft[], lines: TomlLines, files: TaskFile[]): TaskSpec {
  const previous = d.index > 0 ? drafts[d.index - 1]!.name! : null;
  return {
    name: d.name!,
    script: d.script!,
    inputs: d.keys.has('inputs') ? [...d.inputs!] : previous === null ? [] : [previous],
    match: d.match ?? null,
    parallel: d.parallel ?? null,
    timeout: d.timeout ?? null,
    retries: d.retries ?? 0,
    env: d.env ?? {},
    shell: d.shell ?? [...DEFAULT_SHELL],
    stdout: d.stdout ?? null,
    gather: d.gather ?? false,
    protocol: d.protocol ?? 'oneshot',
    files,
    maxRounds: d.maxRounds ?? DEFAULT_MAX_ROUNDS,
    line: lines.taskHeaders.length === drafts.length ? lines.taskHeaders[d.index]! : null,
    index: d.index,
  };
}
