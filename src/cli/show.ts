import { UserError } from '../errors.js';
import { findObject } from '../store/inspect/find-object.js';
import { COUNT_CAP } from '../store/inspect/count-cap.js';
import { objectUsage, type ObjectUsage } from '../store/inspect/object-usage.js';
import type { StepRef } from '../store/inspect/step-ref.js';
import { COMMON_FLAGS, DB_FLAG, STORE_FLAG, JSON_FLAG, type Command } from './command.js';
import { formatBytes, table } from './format.js';
import { withInspectDb } from './inspect-db.js';

export const command: Command = {
  name: 'show',
  summary:
    'Describe an object: size, path in the store, its names, the steps that produced it, consumed it, or logged it.',
  usage: 'show [-db ./db | -db postgres://... -store DIR] HASH|PREFIX [-limit N] [-json]',
  examples: ['task-pipeline show -db ./db 3f2a9c0e', 'task-pipeline show -db ./db 3f2a9c0e -json | jq .producedBy'],
  flags: {
    db: DB_FLAG,
    store: STORE_FLAG,
    limit: { type: 'int', value: 'N', default: 20, help: 'list at most N steps of each kind' },
    json: JSON_FLAG,
    ...COMMON_FLAGS,
  },
  notes: ['HASH|PREFIX: a full SHA-256, or a prefix of 4 or more hex characters that only one object has.'],
  async run(args, io) {
    const [ref, extra] = args.positionals;
    if (ref === undefined || extra !== undefined)
      throw new UserError('EUSAGE', "show: give one HASH or PREFIX; see 'task-pipeline show --help'");
    const u = await withInspectDb(
      'show',
      args,
      async (db) => objectUsage(db, await findObject(db, ref), args.flags.limit as number),
      { objects: true },
    );
    io.stdout.write(args.flags.json ? `${JSON.stringify(u, null, 2)}\n` : formatUsage(u));
    return 0;
  },
};

function formatUsage(u: ObjectUsage): string {
  const names = [
    ...u.runInputs.map((r) => `${r.name}  (run input, run ${r.runId})`),
    ...[...new Set(u.producedBy.map((p) => p.name))].map((n) => `${n}  (output)`),
  ];
  const lines = [
    `object  ${u.hash}${u.registered ? '' : '  (a file with no object row)'}`,
    `size    ${formatBytes(u.size)}${u.size >= 1024 ? ` (${u.size} bytes)` : ''}`,
    `path    ${u.path}${u.file === 'ok' ? '' : `  (${u.file.toUpperCase()}: run task-pipeline fsck)`}`,
    `names   ${names.length === 0 ? '(none: not a run input nor an output)' : names[0]}`,
    ...names.slice(1).map((n) => `        ${n}`),
  ];
  section(lines, 'produced by', u.producedBy, u.totals.producedBy, (p) => [`as ${p.name}`]);
  section(lines, 'consumed by', u.consumedBy, u.totals.consumedBy, (c) => [
    `input ${c.inputName === '' ? '(seed)' : c.inputName}`,
  ]);
  section(lines, 'log of', u.logOf, u.totals.logOf, () => []);
  return `${lines.join('\n')}\n`;
}

function section<T extends StepRef>(
  lines: string[],
  title: string,
  rows: T[],
  total: number,
  extra: (r: T) => string[],
): void {
  lines.push(
    '',
    `${title}: ${total === 0 ? 'no step' : `${total}${total >= COUNT_CAP ? '+' : ''} step${total === 1 ? '' : 's'}`}`,
  );
  if (rows.length === 0) return;
  const body = table(
    ['step', 'task', 'version', 'status', ''],
    rows.map((r) => [r.stepId, r.task, `${r.version.slice(0, 8)}${r.current ? '' : ' (old)'}`, r.status, ...extra(r)]),
  );
  lines.push(...body.split('\n').map((l) => `  ${l}`));
  if (total > rows.length)
    lines.push(`  ... and ${total - rows.length}${total >= COUNT_CAP ? '+' : ''} more (-limit N shows more)`);
}
