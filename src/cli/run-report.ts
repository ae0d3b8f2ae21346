import type { RunSummary } from '../engine/run-summary.js';
import { formatBytes, formatDuration, table } from './format.js';

/** The end-of-run summary: what ran, what was reused, what failed and how to see why. */
export function formatSummary(s: RunSummary, dbDir: string): string {
  const rows = [...s.tasks].map(([name, c]) => [name, c.ran, c.reused, c.failed]);
  const ran = [...s.tasks.values()].reduce((n, c) => n + c.ran, 0);
  const reused = [...s.tasks.values()].reduce((n, c) => n + c.reused, 0);
  const lines = [
    table(['task', 'ran', 'reused', 'failed'], rows),
    '',
    `${s.interrupted ? 'interrupted' : s.failures.length > 0 ? 'finished with failures' : 'done'}: ` +
      `${ran} steps run, ${reused} reused, ${s.failures.length} failed; ` +
      `${s.objectsAdded} objects added (${formatBytes(s.bytesAdded)})` +
      `${s.inputsAdded > 0 ? `, ${s.inputsAdded} new inputs` : ''}; ${formatDuration(s.wallMs)}`,
  ];
  for (const g of s.heldBack) {
    lines.push(`gather "${g}" did not run: steps upstream of it failed or were not run; fix them and run again`);
  }
  if (s.interrupted) lines.push('interrupted steps went back to pending: run the same command again to continue');
  return `${lines.join('\n')}\n`;
}

export function formatFailures(s: RunSummary, dbDir: string): string {
  if (s.failures.length === 0) return '';
  const shown = s.failures.slice(0, 20);
  const lines = [`${s.failures.length} step${s.failures.length === 1 ? '' : 's'} failed:`];
  for (const f of shown) {
    lines.push(`  ${f.task} step ${f.stepId}: ${f.error}`);
    for (const l of f.logTail.split('\n').filter((x) => x !== '')) lines.push(`    | ${l}`);
    lines.push(`    see: task-pipeline log -db ${dbDir} ${f.stepId}`);
  }
  if (s.failures.length > shown.length) lines.push(`  ... and ${s.failures.length - shown.length} more (task-pipeline status -db ${dbDir})`);
  return `${lines.join('\n')}\n`;
}
