import { UserError } from '../errors.js';
import { blockSize, shardDirUse, sqliteUse, type DiskUse } from '../store/inspect/disk-use.js';
import { formatDisk } from './format-disk.js';
import { taskStatus, type DbStatus } from '../store/inspect/task-status.js';
import { previousVersionChange, type PreviousVersionChange } from '../store/inspect/version-change.js';
import { pgLeases } from '../store/postgres/pg-status.js';
import { COMMON_FLAGS, DB_FLAG, JSON_FLAG, type Command } from './command.js';
import { formatBytes, formatDuration, table } from './format.js';
import { withInspectDb } from './inspect-db.js';
import { formatLeases } from './status-postgres.js';

export const command: Command = {
  name: 'status',
  summary:
    'Per task version: steps pending, running, done, failed and reused; the objects its outputs hold and their bytes.',
  usage: 'status [-db ./db | -db postgres://... [-store DIR]] [-all] [-json]',
  examples: ['task-pipeline status -db ./db', 'task-pipeline status -db ./db -all -json'],
  flags: {
    db: DB_FLAG,
    store: {
      type: 'string',
      value: 'DIR',
      help: 'with -db postgres://...: the shared object directory (optional: for the disk line)',
    },
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
    'On PostgreSQL: the same, then the processes that claim steps (workers and runs: host, pid, lease, heartbeat); the',
    "  disk line only with -store (the metadata is the server's, not counted).",
  ],
  async run(args, io) {
    if (args.positionals.length > 0)
      throw new UserError(
        'EUSAGE',
        `status: unexpected argument "${args.positionals[0]}"; see 'task-pipeline status --help'`,
      );
    const all = Boolean(args.flags.all);
    const found = await withInspectDb('status', args, async (db) => {
      const pg = db.q.engine === 'postgres';
      // On PostgreSQL the object directory is known only from -store; without it, no disk line.
      const store = db.store === '' ? null : db.store;
      const s = await taskStatus(db.q, all, store === null ? undefined : { block: blockSize(store) });
      // What made each version new: the fields and files that differ from the version before it.
      const changes = new Map<number, PreviousVersionChange | null>();
      for (const t of s.tasks) changes.set(t.taskId, await previousVersionChange(db.q, t.name, t.taskId));
      const disk =
        store === null
          ? null
          : diskUse(store, pg ? null : sqliteUse(store), s.objectsDisk ?? 0, s.historyFrees ?? null);
      return { s, changes, disk, name: db.name, leases: pg ? await pgLeases(db.q) : null };
    });
    const { s, changes, disk, leases } = found;
    const { objectsDisk: _o, historyFrees: _h, ...rest } = s;
    const json = {
      ...rest,
      tasks: s.tasks.map((t) => ({ ...t, changed: changes.get(t.taskId)?.changed ?? null })),
      disk,
      ...(leases === null ? {} : { leases }),
    };
    io.stdout.write(
      args.flags.json
        ? `${JSON.stringify(json, null, 2)}\n`
        : formatStatus(s, found.name, all, changes) +
            (disk === null ? '' : formatDisk(disk)) +
            (leases === null ? '' : `\n${formatLeases(leases)}`),
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

function diskUse(
  store: string,
  sqlite: number | null,
  objects: number,
  historyFrees: DiskUse['historyFrees'],
): DiskUse {
  const shards = shardDirUse(store);
  return {
    objects,
    objectsMeasured: false,
    shardDirs: shards.bytes,
    shardDirCount: shards.count,
    sqlite,
    total: objects + shards.bytes + (sqlite ?? 0),
    historyFrees,
  };
}
