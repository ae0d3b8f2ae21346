import {
  checkEnv,
  checkFiles,
  checkGather,
  checkInputs,
  checkMatch,
  checkName,
  checkPositiveInteger,
  checkRetries,
  checkScript,
  checkProtocol,
  checkShell,
  checkStdout,
  checkTimeout,
  type Report,
} from './check-fields.js';
import { describeValue, isTable } from './describe-value.js';
import { didYouMean } from '../edit-distance.js';

/** A task as written: undefined where the field was omitted or invalid, before defaults and graph checks. */
export interface TaskDraft {
  index: number;
  /** The name as written when it is a string (even an invalid one), so problems can still say which task. */
  label: string | null;
  /** Keys present in the table, valid or not: tells "omitted" from "invalid". */
  keys: Set<string>;
  name?: string;
  script?: string;
  inputs?: string[];
  match?: string[];
  parallel?: number;
  timeout?: number;
  retries?: number;
  env?: Record<string, string>;
  shell?: string[];
  stdout?: string;
  gather?: boolean;
  protocol?: 'oneshot' | 'lines';
  /** The well-formed `files` patterns; expanded by load. */
  files?: string[];
  maxRounds?: number;
}

type FieldReport = (field: string | null, message: string) => void;

// The one list of task keys: unknown-key detection and suggestions both come from it.
const FIELDS = {
  name: (d: TaskDraft, v: unknown, r: Report) => void (d.name = checkName(v, r)),
  script: (d: TaskDraft, v: unknown, r: Report) => void (d.script = checkScript(v, r)),
  inputs: (d: TaskDraft, v: unknown, r: Report) => void (d.inputs = checkInputs(v, r)),
  match: (d: TaskDraft, v: unknown, r: Report) => void (d.match = checkMatch(v, r)),
  parallel: (d: TaskDraft, v: unknown, r: Report) => void (d.parallel = checkPositiveInteger(v, r)),
  timeout: (d: TaskDraft, v: unknown, r: Report) => void (d.timeout = checkTimeout(v, r)),
  retries: (d: TaskDraft, v: unknown, r: Report) => void (d.retries = checkRetries(v, r)),
  env: (d: TaskDraft, v: unknown, r: Report) => void (d.env = checkEnv(v, r)),
  shell: (d: TaskDraft, v: unknown, r: Report) => void (d.shell = checkShell(v, r)),
  stdout: (d: TaskDraft, v: unknown, r: Report) => void (d.stdout = checkStdout(v, r)),
  gather: (d: TaskDraft, v: unknown, r: Report) => void (d.gather = checkGather(v, r)),
  protocol: (d: TaskDraft, v: unknown, r: Report) => void (d.protocol = checkProtocol(v, r)),
  files: (d: TaskDraft, v: unknown, r: Report) => void (d.files = checkFiles(v, r)),
  max_rounds: (d: TaskDraft, v: unknown, r: Report) => void (d.maxRounds = checkPositiveInteger(v, r)),
} as const;

const TASK_KEYS: readonly string[] = Object.keys(FIELDS);

/**
 * Checks one [[task]] table on its own; cross-task rules (duplicates, inputs) are in check-graph.
 * `reportFor` is given the task's label once it is known, so every problem names the task.
 */
export function checkTask(raw: unknown, index: number, reportFor: (label: string | null) => FieldReport): TaskDraft {
  if (!isTable(raw)) {
    reportFor(null)(null, `task ${index + 1} must be a table ([[task]]), got ${describeValue(raw)}`);
    return { index, label: null, keys: new Set() };
  }
  const label = typeof raw.name === 'string' ? raw.name : null;
  const report = reportFor(label);
  const draft: TaskDraft = { index, label, keys: new Set(Object.keys(raw)) };
  for (const [key, value] of Object.entries(raw)) {
    if (Object.hasOwn(FIELDS, key)) {
      FIELDS[key as keyof typeof FIELDS](draft, value, (message) => report(key, message));
    } else {
      report(key, `unknown key${didYouMean(key, TASK_KEYS)}`);
    }
  }
  if (!('name' in raw)) report('name', `missing: every task needs a name (task ${index + 1} in the file)`);
  if (!('script' in raw)) report('script', 'missing: every task needs a script');
  if (draft.protocol === 'lines' && draft.stdout !== undefined) {
    report(
      'stdout',
      'cannot be used with protocol = "lines": the process\'s stdout carries its replies (write the file into output_dir instead)',
    );
  }
  return draft;
}
