import { UserError } from '../errors.js';
import { retireInputs, runInputs } from '../store/inspect/run-inputs.js';
import { COMMON_FLAGS, DB_FLAG, JSON_FLAG, UNUSED_STORE_FLAG, type Command } from './command.js';
import { formatBytes, table } from './format.js';
import { withInspectDb } from './inspect-db.js';

export const command: Command = {
  name: 'inputs',
  summary: 'List the run inputs (name, hash, size, the run that added it), or retire some with `inputs rm`.',
  usage:
    'inputs [-db ./db | -db postgres://...] [-all] [-json]   |   inputs rm [-db ./db | -db postgres://...] NAME|GLOB...',
  examples: [
    'task-pipeline inputs -db ./db',
    'task-pipeline inputs rm -db ./db logs/old.log',
    "task-pipeline inputs rm -db ./db '2023-*.log'",
  ],
  flags: {
    db: DB_FLAG,
    store: UNUSED_STORE_FLAG,
    all: { type: 'bool', help: 'history too: inputs replaced by other bytes under the same name, and retired ones' },
    json: JSON_FLAG,
    ...COMMON_FLAGS,
  },
  notes: [
    'Run inputs are keyed by name: giving a name again (-input) with other bytes replaces it, and the old item',
    'becomes history (its results are kept, and reused at once if the old bytes come back).',
    '`inputs rm` retires names or globs (the rules of `match`: a pattern without "/" matches the basename);',
    'their results leave status, ls, export and gathers on the next run. A file deleted from a directory that is',
    'given again is not retired by itself: the run says so, and `inputs rm` does it.',
  ],
  async run(args, io) {
    const [sub, ...rest] = args.positionals;
    if (sub === 'rm') {
      if (rest.length === 0)
        throw new UserError(
          'EUSAGE',
          "inputs rm: name the inputs to retire (NAME or GLOB...); see 'task-pipeline inputs --help'",
        );
      // Retiring changes what a run computes: never beside a running engine (the lock).
      const retired = await withInspectDb('inputs rm', args, (db) => retireInputs(db.q, rest), { write: true });
      for (const name of retired) io.stdout.write(`retired ${name}\n`);
      io.stdout.write(
        `inputs rm: ${retired.length} input${retired.length === 1 ? '' : 's'} retired; the next run drops their results from the current graph\n`,
      );
      return 0;
    }
    if (sub !== undefined)
      throw new UserError(
        'EUSAGE',
        `inputs: unexpected argument "${sub}" (the one subcommand is rm); see 'task-pipeline inputs --help'`,
      );
    const all = Boolean(args.flags.all);
    const inputs = await withInspectDb('inputs', args, (db) => runInputs(db.q, all));
    if (args.flags.json) {
      io.stdout.write(`${JSON.stringify(inputs, null, 2)}\n`);
      return 0;
    }
    const rows = inputs.map((i) => {
      const row = [i.name, i.hash.slice(0, 12), i.size === null ? '?' : formatBytes(i.size), `run ${i.run}`];
      return all ? [...row, i.current ? 'current' : (i.retired ?? '')] : row;
    });
    if (rows.length === 0) {
      io.stdout.write(`no ${all ? '' : 'current '}run inputs (give some with -input PATH)\n`);
      return 0;
    }
    io.stdout.write(
      `${table(all ? ['name', 'hash', 'size', 'added by', 'state'] : ['name', 'hash', 'size', 'added by'], rows)}\n`,
    );
    return 0;
  },
};
