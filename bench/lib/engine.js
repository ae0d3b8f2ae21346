import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const ENTRY = fileURLToPath(new URL('./engine-entry.js', import.meta.url));

/** Engines since choose-executor.ts pick their executor from TASK_PIPELINE_EXECUTOR themselves. */
const SELECTS_ITSELF = existsSync(new URL('../../dist/executor/choose-executor.js', import.meta.url));

/**
 * The engine's command line. A variant is an executor name (spawner, the engine's default;
 * or execa), optionally with experiments
 * (experiments.js) after plus signs: `spawner+smallcopy`. What the CLI cannot do by itself goes
 * through the bench's entry shim.
 */
export function engineArgv(variant, args) {
  const plain = variant === 'execa' || (variant === 'spawner' && SELECTS_ITSELF);
  return [process.execPath, plain ? CLI : ENTRY, ...args];
}

export function engineEnv(variant) {
  const [executor, ...experiments] = variant.split('+');
  return { ...process.env, TASK_PIPELINE_EXECUTOR: executor, BENCH_EXPERIMENTS: experiments.join(',') };
}

/** name -> object hash of a task's current done outputs, read straight from the db (read-only). */
export function outputsOf(dbDir, taskName) {
  const db = new Database(`${dbDir}/pipeline.sqlite`, { readonly: true });
  try {
    const rows = db
      .prepare(
        `SELECT o.name, lower(hex(o.object_hash)) AS hash FROM current_task c
                               JOIN step s ON s.task = c.task_id AND s.status = 'done'
                               JOIN step_output o ON o.step_id = s.id
                              WHERE c.name = ?`,
      )
      .all(taskName);
    return new Map(rows.map((r) => [r.name, r.hash]));
  } finally {
    db.close();
  }
}

export function stepCounts(dbDir) {
  const db = new Database(`${dbDir}/pipeline.sqlite`, { readonly: true });
  try {
    return Object.fromEntries(
      db
        .prepare(`SELECT status, count(*) AS n FROM step GROUP BY status`)
        .all()
        .map((r) => [r.status, r.n]),
    );
  } finally {
    db.close();
  }
}
