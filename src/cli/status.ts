import { UserError } from '../errors.js';
import { blockSize, shardDirUse, sqliteUse, type DiskUse } from '../store/inspect/disk-use.js';
import { formatDisk } from './format-disk.js';
import { taskStatus, type DbStatus } from '../store/inspect/task-status.js';
import { previousVersionChange, type PreviousVersionChange } from '../store/inspect/version-change.js';
import { COMMON_FLAGS, DB_FLAG, JSON_FLAG, UNUSED_STORE_FLAG, type Command } from './command.js';
import { formatBytes, formatDuration, table } from './format.js';
import { withDb } from './with-db.js';
import { isPostgresUrl } from '../store/postgres/pg-url.js';

export const command: Command = {
  name: 'status',
  summary:
    'Per task version: steps pending, running, done, failed and reused; the objects its outputs hold and their bytes.',
  usage: 'status [-db ./db | -db postgres://...] [-all] [-json]',
  examples: ['task-pipeline status -db ./db', 'task-pipeline status -db ./db -all -json'],
  flags: {
    db: DB_FLAG,
    store: UNUSED_STORE_FLAG,
    all: { type: 'bool', help: 'every task version and every step, history included (old versions are marked "old")' },
    json: JSON_FLAG,
    ...COMMON_FLAGS,
  },
  notes: [
    'Without -all, only the current graph counts: the steps of the current task versions that the current run inputs reach.',
    'reused: done steps that the latest run did not execute: their results were found in the db (from an earlier run,',
    '  or the same bytes reaching the task again) instead of being computed again.',
    'merged: items that reached the task from more than one step with the same name and bytes (each ran once);',
    '  name outputs after $INPUT_NAME to keep the results of different inputs apart.',
    'objects, bytes: the distinct objects among the outputs of the counted steps, and their total size.',
    'cpu, peak RSS (shown once some step was measured; -json: cpuMs, cpuUserMs, cpuSysMs, maxRssKb, null when not',
    "  measured): over the counted done steps, the CPU time (user + system) of their scripts' process trees in all,",
    '  and the highest peak RSS of one of them. `log STEP_ID` has them per attempt.',
    'disk: what the db directory takes: the object files (their blocks estimated from their sizes: a small file takes a',
    '  whole block; `gc -dry-run` measures each file), the shard directories objects/AB/CD (measured), SQLite (db and',
    '  -wal), and what `gc -history` would free (the objects only history, or nothing, references).',
  ],
  async run(args, io) {
    if (args.positionals.length > 0)
      throw new UserError(
        'EUSAGE',
        `status: unexpected argument "${args.positionals[0]}"; see 'task-pipeline status --help'`,
      );
    const dbDir = String(args.flags.db);
    if (isPostgresUrl(dbDir)) {
      if (args.flags.all) throw new UserError('EUSAGE', 'status: -all does not work with a PostgreSQL db yet');
      return (await import('./status-postgres.js')).statusOnPostgres(dbDir, Boolean(args.flags.json), io);
    }
    const { s, changes } = await withDb(dbDir, (db) => {
      const s = taskStatus(db, Boolean(args.flags.all), { block: blockSize(dbDir) });
      // What made each version new: the fields and files that differ from the version before it.
      return { s, changes: new Map(s.tasks.map((t) => [t.taskId, previousVersionChange(db, t.name, t.taskId)])) };
    });
    const { objectsDisk, historyFrees, ...rest } = s;
    const disk = diskUse(dbDir, objectsDisk ?? 0, historyFrees ?? { objects: 0, bytes: 0, disk: 0 });
    const json = {
      ...rest,
      tasks: s.tasks.map((t) => ({ ...t, changed: changes.get(t.taskId)?.changed ?? null })),
      disk,
    };
    io.stdout.write(
      args.flags.json
        ? `${JSON.stringify(json, null, 2)}\n`
        : formatStatus(s, dbDir, Boolean(args.flags.all), changes) + formatDisk(disk),
    );
    return 0;
  },
};

function formatStatus(
  s: DbStatus,
  dbDir: string,
  all: boolean,
  changes: Map<number, PreviousVersionChange | null>,
): string {
  if (s.tasks.length === 0) return `${dbDir}: no tasks yet\n`;
  // The resource columns only once something was measured: a column of dashes says nothing.
  const measured = s.tasks.some((t) => t.cpuMs !== null || t.maxRssKb !== null);
  const rows = s.tasks.map((t) => [
    t.name,
    `${t.version.slice(0, 8)}${t.current ? '' : ' old'}`,
    t.pending,
    t.running,
    t.done,
    t.failed,
    t.reused,
    t.merged,
    t.objects,
    formatBytes(t.bytes),
    ...(measured
      ? [t.cpuMs === null ? '-' : formatDuration(t.cpuMs), t.maxRssKb === null ? '-' : formatBytes(t.maxRssKb * 1024)]
      : []),
  ]);
  const r = s.latestRun;
  const run =
    r === null
      ? 'no run yet'
      : `latest run ${r.id}: ${
          r.finishedAt === null
            ? `started ${new Date(r.startedAt).toISOString()}, not finished (running, or killed)`
            : `finished ${new Date(r.finishedAt).toISOString()}, exit ${r.exitCode}`
        }`;
  const header = [
    'task',
    'version',
    'pending',
    'running',
    'done',
    'failed',
    'reused',
    'merged',
    'objects',
    'bytes',
    ...(measured ? ['cpu', 'peak RSS'] : []),
  ];
  const grid = table(header, rows).split('\n');
  // Under each current task that has an older version: what made this one new.
  const withChanges = [
    grid[0]!,
    ...s.tasks.flatMap((t, i) => {
      const c = t.current ? changes.get(t.taskId) : null;
      if (!c) return [grid[i + 1]!];
      return [
        grid[i + 1]!,
        `  new version (was ${c.version.slice(0, 8)})${c.changed.length > 0 ? `: ${c.changed.join(', ')}` : ''}`,
      ];
    }),
  ];
  const lines = [
    withChanges.join('\n'),
    '',
    `${run}; db: ${s.objects} objects, ${formatBytes(s.bytes)}${all ? '' : '; history hidden (-all shows it)'}`,
  ];
  return `${lines.join('\n')}\n`;
}

function diskUse(dbDir: string, objects: number, historyFrees: NonNullable<DiskUse['historyFrees']>): DiskUse {
  const shards = shardDirUse(dbDir);
  const sqlite = sqliteUse(dbDir);
  return {
    objects,
    objectsMeasured: false,
    shardDirs: shards.bytes,
    shardDirCount: shards.count,
    sqlite,
    total: objects + shards.bytes + sqlite,
    historyFrees,
  };
}
