import { UserError } from '../errors.js';
import { collectGarbage, type GcReport } from '../store/inspect/collect-garbage.js';
import { COMMON_FLAGS, DB_FLAG, STORE_FLAG, type Command } from './command.js';
import { formatBytes } from './format.js';
import { formatDisk } from './format-disk.js';
import { withInspectDb } from './inspect-db.js';

export const command: Command = {
  name: 'gc',
  summary: 'Delete the objects nothing references, files and rows, and say how many bytes that frees.',
  usage: 'gc [-db ./db | -db postgres://... -store DIR] [-history] [-dry-run]',
  examples: [
    'task-pipeline gc -db ./db -dry-run',
    'task-pipeline gc -db ./db',
    'task-pipeline gc -db ./db -history -dry-run',
  ],
  flags: {
    db: DB_FLAG,
    store: STORE_FLAG,
    history: {
      type: 'bool',
      help: 'first drop the history (old task versions, superseded gathers, replaced or retired inputs, and what only they reach)',
    },
    'dry-run': { type: 'bool', help: 'list what would be deleted, delete nothing' },
    ...COMMON_FLAGS,
  },
  notes: [
    'Referenced means named by a step (its input or its log), a step output, or a run input. History counts:',
    '  old task versions keep their objects, so changing a script back costs nothing. Nothing referenced is deleted.',
    '-history drops the history first: what status, ls and export hide without -all. Undo is then no longer free.',
    'gc takes the db lock: it never runs beside an engine on the same db (exit 2 naming the pid that holds it).',
  ],
  async run(args, io) {
    if (args.positionals.length > 0)
      throw new UserError('EUSAGE', `gc: unexpected argument "${args.positionals[0]}"; see 'task-pipeline gc --help'`);
    const options = { dryRun: Boolean(args.flags['dry-run']), history: Boolean(args.flags.history) };
    const report = await withInspectDb(
      'gc',
      args,
      (db) => collectGarbage(db, { ...options, sqliteDir: db.q.engine === 'sqlite' ? db.store : undefined }),
      { write: true, objects: true, noWorkers: !options.dryRun },
    );
    io.stdout.write(formatGc(report));
    return 0;
  },
};

function formatGc(r: GcReport): string {
  const verb = r.dryRun ? 'would delete' : 'deleted';
  const h = r.history;
  const lines =
    h === null
      ? []
      : [
          `gc: ${r.dryRun ? 'would drop' : 'dropped'} the history: ${h.steps} step${h.steps === 1 ? '' : 's'}, ` +
            `${h.taskVersions} old task version${h.taskVersions === 1 ? '' : 's'}, ${h.inputs} replaced or retired input${h.inputs === 1 ? '' : 's'}`,
        ];
  lines.push(
    ...r.garbage.map((g) => `${verb} ${g.hash}  ${g.size === null ? '(row only, no file)' : formatBytes(g.size)}`),
  );
  lines.push(
    `gc: ${verb} ${r.files} object file${r.files === 1 ? '' : 's'} (${formatBytes(r.bytes)}) and ${r.rows} object row${r.rows === 1 ? '' : 's'}` +
      `${r.stray > 0 ? `; ${r.stray} stray entries in objects/ left alone (see fsck)` : ''}`,
  );
  // The files' blocks: what the disk gets back (a small file takes a whole block).
  lines.push(`gc: ${r.dryRun ? 'would free' : 'freed'} ${formatBytes(r.diskFreed)} on disk`);
  if (r.dryRun) lines.push(formatDisk(r.disk).trimEnd());
  return `${lines.join('\n')}\n`;
}
