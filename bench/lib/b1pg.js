import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { postgresMissing, startPostgres } from '../../test/pg-cluster.js';
import { b1Setup } from './b1.js';
import { engineArgv, engineEnv, outputsOf, REPO } from './engine.js';
import { freshDir, sameOutputs } from './files.js';
import { median, timedOk } from './measure.js';

const CLI = join(REPO, 'dist', 'cli', 'main.js');

/**
 * B1PG, B1 on PostgreSQL against SQLite (issue 19): B1's manifest and input (N lines, 2N+1
 * script runs) on a local SQLite db, on PostgreSQL with the run doing every step itself, and on
 * PostgreSQL with the run only coordinating (-coordinate) and 2 workers sharing the same -parallel
 * (ceil(jobs / 2) slots each). Same machine, same -parallel in total, contenders alternating, a
 * fresh db each run. PostgreSQL is a cluster of the bench's own in a temp directory (fsync off,
 * as the tests run it: this measures the engine's work, not the disk's flushes).
 */
export async function runB1pg(o, work, log) {
  const why = postgresMissing();
  if (why) {
    log(`B1PG skipped: it needs PostgreSQL (${why})`);
    return [];
  }
  const s = b1Setup(o, work);
  const hooks = [];
  const cluster = await startPostgres((f) => hooks.push(f));
  const dir = freshDir(join(work, 'b1pg'));
  const perWorker = Math.ceil(o.jobs / 2);
  const contenders = [
    { name: 'SQLite', pg: false },
    { name: 'PostgreSQL, the run alone', pg: true, workers: 0 },
    { name: `PostgreSQL, -coordinate + 2 workers of -parallel ${perWorker}`, pg: true, workers: 2 },
  ];
  const results = contenders.map((c) => ({ bench: 'B1PG', name: c.name, kind: 'engine', ms: [], rssKb: [] }));
  let reference = null;
  try {
    for (let rep = 1; rep <= o.repeat; rep++) {
      for (const [i, c] of contenders.entries()) {
        const d = freshDir(join(dir, `r${rep}-${i}`));
        const common = ['-manifest', s.manifest, '-input', s.input, '-quiet'];
        const url = c.pg ? await cluster.newDb() : null;
        const db = c.pg ? ['-db', url, '-store', join(d, 'store')] : ['-db', join(d, 'db')];
        const procs = [];
        for (let w = 0; w < (c.workers ?? 0); w++)
          procs.push(
            spawn(process.execPath, [CLI, 'worker', ...db, '-parallel', String(perWorker)], { stdio: 'ignore' }),
          );
        const own = c.workers > 0 ? ['-coordinate'] : ['-parallel', String(o.jobs)];
        try {
          if (procs.length > 0) await registered(cluster, url, procs.length);
          const r = await timedOk(`B1PG ${c.name}`, engineArgv('spawner', [...common, ...db, ...own]), {
            cwd: s.dir,
            env: engineEnv('spawner'),
            tmpDir: work,
          });
          results[i].ms.push(r.ms);
          results[i].rssKb.push(r.rssKb);
          log(`B1PG rep ${rep}/${o.repeat} ${c.name}: ${(r.ms / 1000).toFixed(2)} s, peak RSS ${r.rssKb ?? '?'} KiB`);
        } finally {
          for (const p of procs) p.kill('SIGTERM');
          await Promise.all(procs.map((p) => new Promise((res) => (p.exitCode !== null ? res() : p.on('close', res)))));
        }
        if (rep === 1) {
          const counts = c.pg ? await pgOutputs(cluster, url, 'count') : outputsOf(join(d, 'db'), 'count');
          if (counts.size !== o.n) throw new Error(`B1PG ${c.name}: ${counts.size} counts, expected ${o.n}`);
          if (reference === null) reference = counts;
          else sameOutputs(`B1PG ${c.name}`, reference, counts);
        }
      }
    }
    return results;
  } finally {
    for (const h of hooks) h();
  }
}

/** name -> hash of a task's current done outputs on PostgreSQL. */
async function pgOutputs(cluster, url, task) {
  const rows = await cluster.query(
    url,
    `SELECT o.name, encode(o.object_hash, 'hex') AS hash FROM current_task c
       JOIN step s ON s.task = c.task_id AND s.status = 'done' JOIN step_output o ON o.step_id = s.id
      WHERE c.name = $1`,
    [task],
  );
  return new Map(rows.map((r) => [r.name, r.hash]));
}

/** Until the workers have registered their leases: a worker's start-up is not the run's time. */
async function registered(cluster, url, workers) {
  const end = Date.now() + 60_000;
  for (;;) {
    const n = await cluster
      .query(url, `SELECT count(*) AS n FROM lease WHERE kind = 'worker' AND state = 'live'`)
      .then((r) => Number(r[0].n))
      .catch(() => 0); // the first worker has not made the schema yet
    if (n >= workers) return;
    if (Date.now() > end) throw new Error(`B1PG: ${workers} workers did not register within 60 s`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** The B1PG section: each contender's times, and PostgreSQL's against SQLite (median over median). */
export function b1pgMarkdown(o, results) {
  const rows = results.filter((r) => r.bench === 'B1PG');
  if (rows.length === 0) return '';
  const base = rows[0];
  const mb = (kb) => (kb === null || kb === undefined ? '?' : (kb / 1024).toFixed(0));
  const out = [
    '## B1PG',
    '',
    `B1's manifest and input (N = ${o.n}: ${2 * o.n + 1} script runs) on SQLite and on PostgreSQL (a local cluster, ` +
      `fsync off), -parallel ${o.jobs} in total, a fresh db each run, contenders alternating.`,
    '',
    '| contender | median s | min s | max s | runs | ms a step | peak RSS MB (run) | vs SQLite |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const m = median(r.ms);
    out.push(
      `| ${r.name} | ${(m / 1000).toFixed(2)} | ${(Math.min(...r.ms) / 1000).toFixed(2)} | ${(Math.max(...r.ms) / 1000).toFixed(2)} | ` +
        `${r.ms.length} | ${(m / (2 * o.n + 1)).toFixed(2)} | ${mb(median(r.rssKb.filter((x) => x !== null)))} | ${(m / median(base.ms)).toFixed(2)}x |`,
    );
  }
  out.push('');
  return out.join('\n');
}
