import type { TaskDraft } from './check-task.js';
import { didYouMean } from '../edit-distance.js';

export type GraphReport = (task: TaskDraft, field: string, message: string) => void;

/** Rules that need every task at once: unique names, inputs that exist, gather tasks that have inputs. */
export function checkGraph(
  drafts: readonly TaskDraft[],
  lineOf: (index: number, field: string) => number | null,
  report: GraphReport,
): void {
  // Labels, not only valid names: an input naming a task whose name is malformed is already reported there.
  const firstByName = new Map<string, TaskDraft>();
  for (const d of drafts) {
    if (d.label === null) continue;
    const first = firstByName.get(d.label);
    if (first === undefined) {
      firstByName.set(d.label, d);
      continue;
    }
    const line = lineOf(first.index, 'name');
    const where = line === null ? `task ${first.index + 1} in the file` : `line ${line}`;
    report(d, 'name', `duplicate name: already used by the task on ${where}`);
  }

  for (const d of drafts) {
    for (const input of d.inputs ?? []) {
      if (!firstByName.has(input)) {
        report(d, 'inputs', `unknown task ${JSON.stringify(input)}${didYouMean(input, firstByName.keys())}`);
      }
    }
    if (d.gather === true) {
      if (d.keys.has('inputs') && d.inputs?.length === 0) {
        report(d, 'gather', 'a gather task needs inputs, and inputs = [] makes this task a root');
      } else if (!d.keys.has('inputs') && d.index === 0) {
        report(d, 'gather', 'a gather task needs inputs, and the first task has no previous task to read from');
      }
    }
  }
}
