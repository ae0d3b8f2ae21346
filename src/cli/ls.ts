import { UserError } from '../errors.js';
import { allTaskOutputs, taskOutputs, type TaskOutput } from '../store/inspect/current-outputs.js';
import { findTask } from '../store/inspect/find-task.js';
import { sqliteQuery } from '../store/inspect/sqlite-query.js';
import { COMMON_FLAGS, DB_FLAG, JSON_FLAG, UNUSED_STORE_FLAG, type Command, type Io } from './command.js';
import { withInspectDb } from './inspect-db.js';
import { withDb } from './with-db.js';
import { isPostgresUrl } from '../store/postgres/pg-url.js';

export const command: Command = {
  name: 'ls',
  summary: "List a task's current outputs, one per line: NAME<TAB>HASH<TAB>SIZE<TAB>FROM.",
  usage: 'ls [-db ./db | -db postgres://...] -task NAME [-all] [-json]',
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
    const json = Boolean(args.flags.json);
    if (isPostgresUrl(dbDir) && !all) {
      const { PgDb } = await import('../store/postgres/pg-db.js');
      const { pgTaskOutputs } = await import('../store/postgres/pg-outputs.js');
      const db = new PgDb(dbDir);
      writeOutputs(io, await pgTaskOutputs(db, taskName).finally(() => db.close()), json);
      return 0;
    }
    if (isPostgresUrl(dbDir)) {
      const outputs = await withInspectDb('ls', args, async (db) =>
        allTaskOutputs(db.q, (await findTask(db.q, db.name, taskName)).name),
      );
      writeOutputs(io, outputs, json);
      return 0;
    }
    await withDb(dbDir, async (db) => {
      const task = await findTask(sqliteQuery(db), dbDir, taskName);
      if (!task.current && !all)
        io.stderr.write(
          `task-pipeline: ls: task "${task.name}" is not in the latest manifest: it has no current outputs (-all lists its history)\n`,
        );
      // Streamed row by row: a task may have millions of outputs.
      writeOutputs(io, taskOutputs(db, task.name, all), json);
    });
    return 0;
  },
};

/** The outputs as NAME<TAB>HASH<TAB>SIZE<TAB>FROM lines or a JSON list, written in chunks as they come. */
function writeOutputs(io: Io, outputs: Iterable<TaskOutput>, json: boolean): void {
  if (json) {
    io.stdout.write('[');
    let first = true;
    for (const o of outputs) {
      io.stdout.write(`${first ? '\n' : ',\n'}  ${JSON.stringify(o)}`);
      first = false;
    }
    io.stdout.write(first ? ']\n' : '\n]\n');
    return;
  }
  let chunk = '';
  for (const o of outputs) {
    chunk += `${o.name}\t${o.hash}\t${o.size ?? ''}\t${o.from}\n`;
    if (chunk.length >= 1 << 16) {
      io.stdout.write(chunk);
      chunk = '';
    }
  }
  io.stdout.write(chunk);
}
