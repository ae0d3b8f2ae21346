import { UserError } from '../errors.js';
import { taskOutputs } from '../store/inspect/current-outputs.js';
import { findTask } from '../store/inspect/find-task.js';
import { COMMON_FLAGS, DB_FLAG, JSON_FLAG, UNUSED_STORE_FLAG, type Command } from './command.js';
import { withDb } from './with-db.js';
import { isPostgresUrl } from '../store/postgres/pg-url.js';

export const command: Command = {
  name: 'ls',
  summary: "List a task's current outputs, one per line: NAME<TAB>HASH<TAB>SIZE<TAB>FROM.",
  usage: 'ls [-db ./db] -task NAME [-all] [-json]',
  examples: [
    'task-pipeline ls -db ./db -task count',
    'task-pipeline ls -db ./db -task count | cut -f2 | xargs -n1 task-pipeline cat -db ./db',
  ],
  flags: {
    db: DB_FLAG,
    store: UNUSED_STORE_FLAG,
    task: { type: 'string', value: 'NAME', help: 'the task (required)' },
    all: { type: 'bool', help: "history too: the outputs of every version of the task, not only the current graph's" },
    json: JSON_FLAG,
    ...COMMON_FLAGS,
  },
  notes: [
    'One line per output of each step: FROM is the item the step processed (its INPUT_NAME), so three inputs',
    'that each give an output n are three lines. Sorted by name, then FROM. SIZE is in bytes.',
    'Names never hold a tab or a newline (the engine refuses such outputs and inputs).',
  ],
  async run(args, io) {
    if (args.positionals.length > 0)
      throw new UserError('EUSAGE', `ls: unexpected argument "${args.positionals[0]}"; give the task with -task NAME`);
    if (typeof args.flags.task !== 'string')
      throw new UserError('EUSAGE', "ls: -task NAME is required; see 'task-pipeline ls --help'");
    const dbDir = String(args.flags.db);
    const all = Boolean(args.flags.all);
    const taskName = args.flags.task;
    if (isPostgresUrl(dbDir)) {
      if (all) throw new UserError('EUSAGE', 'ls: -all does not work with a PostgreSQL db yet');
      const { PgDb } = await import('../store/postgres/pg-db.js');
      const { pgTaskOutputs } = await import('../store/postgres/pg-outputs.js');
      const db = new PgDb(dbDir);
      const outputs = await pgTaskOutputs(db, taskName).finally(() => db.close());
      if (args.flags.json) io.stdout.write(`${JSON.stringify(outputs, null, 2)}\n`);
      else io.stdout.write(outputs.map((o) => `${o.name}\t${o.hash}\t${o.size ?? ''}\t${o.from}\n`).join(''));
      return 0;
    }
    await withDb(dbDir, (db) => {
      const task = findTask(db, dbDir, taskName);
      if (!task.current && !all)
        io.stderr.write(
          `task-pipeline: ls: task "${task.name}" is not in the latest manifest: it has no current outputs (-all lists its history)\n`,
        );
      // Streamed row by row: a task may have millions of outputs.
      if (args.flags.json) {
        io.stdout.write('[');
        let first = true;
        for (const o of taskOutputs(db, task.name, all)) {
          io.stdout.write(`${first ? '\n' : ',\n'}  ${JSON.stringify(o)}`);
          first = false;
        }
        io.stdout.write(first ? ']\n' : '\n]\n');
      } else {
        let chunk = '';
        for (const o of taskOutputs(db, task.name, all)) {
          chunk += `${o.name}\t${o.hash}\t${o.size ?? ''}\t${o.from}\n`;
          if (chunk.length >= 1 << 16) {
            io.stdout.write(chunk);
            chunk = '';
          }
        }
        io.stdout.write(chunk);
      }
    });
    return 0;
  },
};
