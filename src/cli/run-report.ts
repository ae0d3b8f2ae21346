import type { RunSummary } from '../engine/run-summary.js';
import { formatBytes, formatDuration, plural, table } from './format.js';

/** The end-of-run summary: what ran, what was reused, what failed and how to see why. */
export function formatSummary(s: RunSummary, dbDir: string): string {
  const rows = [...s.tasks].map(([name, c]) => [name, c.ran, c.reused, c.failed]);
  const ran = [...s.tasks.values()].reduce((n, c) => n + c.ran, 0);
  const reused = [...s.tasks.values()].reduce((n, c) => n + c.reused, 0);
  const lines = [
    table(['task', 'ran', 'reused', 'failed'], rows),
    '',
    `${s.interrupted ? 'interrupted' : s.halted !== null ? 'stopped' : s.failures.length > 0 ? 'finished with failures' : s.cut.size > 0 ? 'incomplete' : 'done'}: ` +
      `${plural(ran, 'step')} run, ${reused} reused, ${s.failures.length} failed; ` +
      `${plural(s.objectsAdded, 'object')} added (${formatBytes(s.bytesAdded)})` +
      `${s.inputsAdded > 0 ? `, ${plural(s.inputsAdded, 'new input')}` : ''}` +
      `${s.inputsReplaced > 0 ? `, ${plural(s.inputsReplaced, 'input')} replaced` : ''}; ${formatDuration(s.wallMs)}`,
  ];
  if (s.inputsMissing.length > 0) {
    const n = s.inputsMissing.length;
    const shown = s.inputsMissing
      .slice(0, 3)
      .map((x) => JSON.stringify(x))
      .join(', ');
    lines.push(
      `${n} current input${n === 1 ? ' is' : 's are'} no longer in the directories given (${shown}${n > 3 ? ', ...' : ''}): ` +
        `they stay current; retire them with: task-pipeline inputs rm -db ${dbDir} NAME...`,
    );
  }
  for (const [task, n] of s.merged) {
    lines.push(
      `note: ${task}: ${n} item${n === 1 ? '' : 's'} came from more than one upstream step with the same name and bytes, ` +
        `and ran once; to keep the outputs of different inputs apart, name them after $INPUT_NAME`,
    );
  }
  for (const [task, n] of s.forced) {
    lines.push(
      `-force ${task}: ${n} done step${n === 1 ? '' : 's'} ran again; outputs that came out the same changed nothing downstream`,
    );
  }
  if (s.leftPending.length > 0) {
    const list = s.leftPending.map((l) => `${l.task} (${l.pending})`).join(', ');
    lines.push(`-task: steps left pending in other tasks: ${list}; run without -task to do them`);
  }
  for (const n of s.noOutputs) {
    lines.push(
      `warning: ${n.task} left no output in any of its steps, and ${n.consumers.join(', ')} ` +
        `consume${n.consumers.length === 1 ? 's' : ''} it: does its script write into $OUTPUT_DIR?`,
    );
  }
  for (const [task, c] of s.cut) {
    lines.push(
      `cycle cut: ${task}: ${c.steps} step${c.steps === 1 ? '' : 's'} beyond max_rounds = ${c.maxRounds} generations ` +
        `were not run; raise max_rounds on task "${task}" if the cycle should go on`,
    );
  }
  for (const g of s.heldBack) {
    lines.push(`gather "${g}" did not run: steps upstream of it failed or were not run; fix them and run again`);
  }
  if (s.interrupted) lines.push('interrupted steps went back to pending: run the same command again to continue');
  return `${lines.join('\n')}\n`;
}

export function formatFailures(s: RunSummary, dbDir: string): string {
  // On stderr with the failures, so that -quiet still says it.
  const halted = s.halted === null ? '' : `task-pipeline: the run stopped: ${s.halted}\n`;
  if (s.failures.length === 0) return halted;
  const shown = s.failures.slice(0, 20);
  const lines = [`${halted}${s.failures.length} step${s.failures.length === 1 ? '' : 's'} failed:`];
  for (const f of shown) {
    lines.push(`  ${f.task} step ${f.stepId}: ${f.error}`);
    for (const l of f.logTail.split('\n').filter((x) => x !== '')) lines.push(`    | ${l}`);
    lines.push(`    see: task-pipeline log -db ${dbDir} ${f.stepId}`);
  }
  if (s.failures.length > shown.length)
    lines.push(`  ... and ${s.failures.length - shown.length} more (task-pipeline status -db ${dbDir})`);
  return `${lines.join('\n')}\n`;
}
