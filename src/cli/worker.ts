import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import { UserError } from '../errors.js';
import { chooseExecutor } from '../executor/choose-executor.js';
import { ProcessGroups } from '../executor/process-groups.js';
import { processTmpDir } from '../cluster/shared-store.js';
import { loadWorkerGraph } from '../cluster/worker-graph.js';
import { WorkerLoop } from '../cluster/worker-loop.js';
import { limitHeapGrowth } from '../engine/heap-limits.js';
import { WorkSlots } from '../engine/work-slots.js';
import { LocalObjectStore } from '../store/object-store.js';
import { isPostgresUrl, PgDb, redactUrl } from '../store/postgres/pg-db.js';
import { PgLeases } from '../store/postgres/pg-leases.js';
import { migratePg } from '../store/postgres/pg-schema.js';
import { COMMON_FLAGS, type Command } from './command.js';

export const command: Command = {
  name: 'worker',
  summary: 'Run steps of a PostgreSQL db on this host, beside the run that coordinates it, until stopped.',
  usage: 'worker -db postgres://... -store DIR [-parallel N] [-verbose]',
  examples: ['task-pipeline worker -db postgres://pipe@dbhost/pipe -store /mnt/shared/pipe -parallel 8'],
  flags: {
    db: { type: 'string', value: 'URL', help: 'the PostgreSQL db (postgres://user@host/dbname) (required)' },
    store: { type: 'string', value: 'DIR', help: 'the shared directory of objects, as the run names it (required)' },
    parallel: { type: 'int', value: 'N', default: availableParallelism(), help: 'steps running at once here' },
    ...COMMON_FLAGS,
    verbose: { type: 'bool', help: 'stream script output, each line prefixed with [task#step]' },
  },
  notes: [
    'A worker claims pending steps of the current graph in batches, under a lease its heartbeat renews; if it dies,',
    '  its steps go back to pending when the lease expires (30 s) and another process runs them. A step is committed',
    '  once: a worker whose lease expired cannot commit it any more. Ctrl-C (SIGINT/SIGTERM) stops it: its running',
    "  steps go back to pending at once; exit code 0. Scripts run in a copy of the tasks' `files` (see the README).",
  ],
  async run(args, io) {
    // A worker runs steps for as long as a run does: the same bounds on V8's heap.
    limitHeapGrowth();
    const f = args.flags;
    if (args.positionals.length > 0)
      throw new UserError('EUSAGE', `worker: unexpected argument "${args.positionals[0]}"`);
    if (typeof f.db !== 'string' || !isPostgresUrl(f.db))
      throw new UserError(
        'EUSAGE',
        "worker: -db postgres://... is required (workers share a PostgreSQL db); see 'task-pipeline worker --help'",
      );
    if (typeof f.store !== 'string' || f.store === '')
      throw new UserError('EUSAGE', "worker: -store DIR is required (the run's shared object directory)");
    const storeDir = resolve(f.store);
    const stop = new AbortController();
    const kill = new AbortController();
    const groups = new ProcessGroups();
    const onSignal = () => {
      if (stop.signal.aborted) {
        kill.abort();
        groups.signalAll('SIGKILL');
      } else stop.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const db = new PgDb(f.db);
    let tmpDir: string | null = null;
    try {
      await migratePg(db);
      mkdirSync(join(storeDir, 'objects'), { recursive: true });
      tmpDir = processTmpDir(storeDir);
      const store = new LocalObjectStore(storeDir, { tmpDir });
      const executor = chooseExecutor(groups, f.parallel as number);
      const slots = new WorkSlots(store.tmpDir);
      const filesRoot = join(tmpDir, 'files');
      const loop = new WorkerLoop({
        db,
        leases: new PgLeases(db),
        kind: 'worker',
        parallel: f.parallel as number,
        store,
        executor,
        groups,
        slots,
        echo: f.verbose ? (line) => io.stderr.write(`${line}\n`) : null,
        stop: stop.signal,
        load: (state) => loadWorkerGraph(db, store, filesRoot, state),
        idle: async () => false,
      });
      io.stderr.write(`task-pipeline: worker ${process.pid} on ${redactUrl(f.db)}, store ${storeDir}\n`);
      try {
        await loop.run();
      } finally {
        executor.close?.();
        slots.close();
      }
      const c = loop.counts;
      io.stderr.write(
        `task-pipeline: worker stopped: ${c.done} steps done, ${c.failed} failed, ${c.fenced} refused (lease lost)\n`,
      );
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      groups.signalAll('SIGKILL');
      await db.close();
      if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
    }
  },
};
