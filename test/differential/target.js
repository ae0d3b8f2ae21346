// Where the differential harness runs the engine. SQLite: a local db directory (the default).
// PostgreSQL: a fresh database on a test cluster (test/pg-cluster.js), a shared store directory,
// three `task-pipeline worker` processes kept for the whole seed (so they see each run's new graph
// while they hold the previous one), and each run as their coordinator. Same manifests, inputs and
// comparisons either way; what PostgreSQL cannot do yet is skipped and counted (see retire).

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, inspectCli, spawnCli } from './cli.js';

/** A local db under the seed's workspace. */
export function sqliteTarget(ws) {
  const db = join(ws, 'db');
  const args = ['-db', db];
  return {
    name: 'SQLite',
    runArgs: (parallel) => [...args, '-parallel', String(parallel)],
    lsArgs: args,
    exportArgs: args,
    /** Settling inputs past the stat cache's racy margin means something here (see harness.js). */
    statCache: true,
    retire: (names) => spawnCli(['inputs', 'rm', ...args, ...names]),
    async bytes(hash) {
      const r = await inspectCli(['cat', ...args, hash]);
      return r.code === 0 ? r.stdout : null;
    },
    start: async () => {},
    afterRun: async () => [],
    stop: async () => [],
  };
}

// Workers look for work often, so that they take most steps before the coordinator's own slots do.
const PG_ENV = { TASK_PIPELINE_POLL_MS: '50' };
const WORKERS = 3;

/**
 * PostgreSQL with workers. The coordinator's share depends on the seed: it runs steps itself at
 * -parallel 1 or 2, or only coordinates (-coordinate) and every step runs on a worker.
 */
export async function pgTarget(ws, cluster, seed) {
  const url = await cluster.newDb();
  const store = join(ws, 'store');
  const args = ['-db', url, '-store', store];
  const mode = ['coordinate', 1, 2][seed % 3];
  const workers = [];
  return {
    name: 'PostgreSQL',
    mode:
      mode === 'coordinate' ? `${WORKERS} workers, -coordinate` : `${WORKERS} workers, coordinator -parallel ${mode}`,
    runArgs: () => [...args, ...(mode === 'coordinate' ? ['-coordinate'] : ['-parallel', String(mode)])],
    runEnv: PG_ENV,
    lsArgs: ['-db', url],
    exportArgs: args,
    statCache: true,
    /** `inputs rm`; where PostgreSQL refuses it, { skipped: true }: the names stay current. */
    async retire(names) {
      const r = await spawnCli(['inputs', 'rm', '-db', url, ...names]);
      if (r.code === 2 && /does not work with a PostgreSQL db/.test(r.stderr)) return { ...r, skipped: true };
      return r;
    },
    async bytes(hash) {
      const p = join(store, 'objects', hash.slice(0, 2), hash.slice(2, 4), hash.slice(4));
      return existsSync(p) ? readFileSync(p) : null;
    },
    async start() {
      for (let i = 0; i < WORKERS; i++) workers.push(startWorker(args));
    },
    /** Problems after a run: a step committed twice, or a worker that died. */
    async afterRun() {
      const problems = [];
      const twice = await cluster.query(
        url,
        `SELECT step_id, count(*) AS n FROM attempt WHERE status = 'done' GROUP BY step_id HAVING count(*) > 1`,
      );
      for (const r of twice) problems.push(`step ${r.step_id} was committed done ${r.n} times`);
      for (const w of workers)
        if (w.exit !== null) problems.push(`worker ${w.child.pid} exited ${w.exit}:\n${w.stderr.trim()}`);
      return problems;
    },
    /** Stop the workers (SIGTERM): each must exit 0, with no commit refused (no lease expires here). */
    async stop() {
      const problems = [];
      for (const w of workers) if (w.exit === null) w.child.kill('SIGTERM');
      for (const w of workers) {
        await w.done;
        if (w.exit !== 0) problems.push(`worker ${w.child.pid} exited ${w.exit}:\n${w.stderr.trim()}`);
        else if (!/, 0 refused/.test(w.stderr)) problems.push(`worker ${w.child.pid}: ${w.stderr.trim()}`);
      }
      return problems;
    },
  };
}

function startWorker(args) {
  const child = spawn(process.execPath, [CLI, 'worker', ...args, '-parallel', '2'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...PG_ENV },
  });
  const w = { child, stderr: '', exit: null, done: null };
  child.stderr.on('data', (c) => (w.stderr += c));
  w.done = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      w.exit = code ?? signal;
      resolve();
    });
    child.on('error', (e) => {
      w.exit = String(e);
      resolve();
    });
  });
  return w;
}
