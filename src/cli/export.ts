import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import { taskOutputs } from '../store/inspect/current-outputs.js';
import { planExport } from '../store/inspect/export-plan.js';
import { exportOutputs, type ExportDone } from '../store/inspect/export-outputs.js';
import { findTask } from '../store/inspect/find-task.js';
import { sqliteQuery } from '../store/inspect/sqlite-query.js';
import { COMMON_FLAGS, DB_FLAG, STORE_FLAG, type Command } from './command.js';
import { withDb } from './with-db.js';
import { isPostgresUrl } from '../store/postgres/pg-url.js';

export const command: Command = {
  name: 'export',
  summary: "Materialise a task's current outputs as files under their names in a directory.",
  usage: 'export [-db ./db | -db postgres://... -store DIR] -task NAME -out DIR [-link]',
  examples: [
    'task-pipeline export -db ./db -task count -out ./results',
    'task-pipeline export -db ./db -task count -out ./results -link',
  ],
  flags: {
    db: DB_FLAG,
    store: STORE_FLAG,
    task: { type: 'string', value: 'NAME', help: 'the task whose current outputs to export (required)' },
    out: { type: 'string', value: 'DIR', help: 'the directory to fill; created if missing (required)' },
    link: {
      type: 'bool',
      help: 'hard-link the read-only store objects instead of copying (no space used; editing one edits the store)',
    },
    ...COMMON_FLAGS,
    verbose: { type: 'bool', help: 'list every file, not only the renamed ones' },
  },
  notes: [
    'Files are copies (reflinks where the filesystem shares blocks), each checked against its hash: they are yours to',
    '  edit. With -link they are hard links to the read-only store objects (no space used): editing one in place',
    '  (after a chmod) changes the stored object too, and fsck then reports it corrupt.',
    'Names stay inside DIR whatever they hold: "..", "." and empty segments are dropped, a leading "/" too (said per file).',
    'A name that several steps left (three inputs each giving n) goes to FROM/NAME for each, FROM being the item',
    '  its step processed, so none is dropped; a path still taken by other bytes becomes PATH~<first 8 hex of hash>.',
    'A file already in DIR is kept if it holds the same bytes; any other existing file, or a symlink on the way,',
    '  refuses the whole export before anything is written (exit 2).',
  ],
  async run(args, io) {
    const f = args.flags;
    if (args.positionals.length > 0)
      throw new UserError(
        'EUSAGE',
        `export: unexpected argument "${args.positionals[0]}"; see 'task-pipeline export --help'`,
      );
    if (typeof f.task !== 'string')
      throw new UserError('EUSAGE', "export: -task NAME is required; see 'task-pipeline export --help'");
    if (typeof f.out !== 'string' || f.out === '')
      throw new UserError('EUSAGE', "export: -out DIR is required; see 'task-pipeline export --help'");
    const dbDir = String(f.db);
    const task = f.task;
    if (isPostgresUrl(dbDir)) {
      if (typeof f.store !== 'string' || f.store === '')
        throw new UserError('EUSAGE', 'export: -db postgres://... needs -store DIR, where its objects are');
      const { PgDb } = await import('../store/postgres/pg-db.js');
      const { pgTaskOutputs } = await import('../store/postgres/pg-outputs.js');
      const db = new PgDb(dbDir);
      const outputs = await pgTaskOutputs(db, task).finally(() => db.close());
      const done = await exportOutputs(f.store, f.out, planExport(outputs), Boolean(f.link));
      io.stdout.write(formatExport(done, f.out, f.task, Boolean(f.verbose)));
      return 0;
    }
    const plan = await withDb(dbDir, async (db) => {
      const found = await findTask(sqliteQuery(db), dbDir, task);
      if (!found.current)
        throw new UserError(
          'ENOTASK',
          `export: task "${found.name}" is not in the latest manifest, so it has no current outputs`,
        );
      return planExport(taskOutputs(db, found.name, false));
    });
    const done = await exportOutputs(dbDir, f.out, plan, Boolean(f.link));
    io.stdout.write(formatExport(done, f.out, f.task, Boolean(f.verbose)));
    if (f.link && done.some((d) => d.action === 'linked')) {
      io.stderr.write(
        "task-pipeline: export -link: the files are the store's own objects; editing one in place edits the store (copy it first)\n",
      );
    }
    return 0;
  },
};

function formatExport(done: ExportDone[], out: string, task: string, verbose: boolean): string {
  const lines: string[] = [];
  const count = { linked: 0, copied: 0, present: 0, merged: 0 };
  let shared: ExportDone['entry'] | null = null;
  let sharedCount = 0;
  for (const d of done) {
    count[d.action]++;
    const e = d.entry;
    if (e.renamed === 'shared' && !e.merged) {
      shared ??= e;
      sharedCount++;
    }
    const why = e.merged
      ? `output "${e.name}" holds the same bytes: one file`
      : e.renamed === 'sanitised'
        ? `name "${e.name}" would leave the directory; written as ${e.path}`
        : e.renamed === 'duplicate'
          ? `another output already has the name "${e.name}"; these bytes (${e.hash.slice(0, 8)}) written as ${e.path}`
          : null;
    if (why !== null) lines.push(`${e.path}: ${why}`);
    else if (verbose)
      lines.push(`${e.path}: ${d.action} ${e.hash.slice(0, 12)}${e.renamed === 'shared' ? ` (from "${e.from}")` : ''}`);
  }
  if (shared !== null) {
    lines.push(
      `${sharedCount} output${sharedCount === 1 ? '' : 's'} share${sharedCount === 1 ? 's' : ''} a name with outputs of other steps: ` +
        `each written under the item it came from, as FROM/NAME (e.g. ${shared.path})`,
    );
  }
  const files = count.linked + count.copied + count.present;
  const parts = [`${count.linked} linked`, `${count.copied} copied`, `${count.present} already there`];
  lines.push(
    `exported ${files} file${files === 1 ? '' : 's'} of task ${task} to ${resolve(out)} (${parts.join(', ')})`,
  );
  return `${lines.join('\n')}\n`;
}
