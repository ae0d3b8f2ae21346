import { CURRENT_STEPS_CTE } from '../schema.js';
import { estimatedObjectUse, historyFreesOf, type DiskUse } from './disk-use.js';
import type { Query } from './query.js';

export interface TaskVersionStatus {
  name: string;
  taskId: number;
  version: string;
  /** The version in the manifest of the latest run; the others are history. */
  current: boolean;
  pending: number;
  running: number;
  done: number;
  failed: number;
  /** Done steps the latest run did not execute: work found in the db instead of done again. */
  reused: number;
  /**
   * Items that reached this task from more than one step (equal name, equal bytes, e.g. three
   * inputs each giving `n` = `3`): each ran once. 0 for a gather task.
   */
  merged: number;
  /** Distinct objects among the outputs of the counted steps, and their bytes. */
  objects: number;
  bytes: number;
  /**
   * Over the counted done steps, the attempt that made each done: CPU time (user + system) in all and
   * the highest peak RSS of a script's process tree. null when none of them was measured.
   */
  cpuMs: number | null;
  cpuUserMs: number | null;
  cpuSysMs: number | null;
  maxRssKb: number | null;
}

export interface RunInfo {
  id: number;
  manifest: string;
  startedAt: number;
  finishedAt: number | null;
  exitCode: number | null;
}

export interface DbStatus {
  latestRun: RunInfo | null;
  tasks: TaskVersionStatus[];
  /** Every object registered in the db, whatever references it. */
  objects: number;
  bytes: number;
  /** With `footprint`: their files' blocks (estimated from their sizes), and what `gc -history` would free. */
  objectsDisk?: number;
  historyFrees?: NonNullable<DiskUse['historyFrees']>;
}

// count(CASE ...), not sum(a = b): PostgreSQL has no sum of booleans.
const COUNTS = `s.task AS taskId,
  count(CASE WHEN s.status = 'pending' THEN 1 END) AS pending, count(CASE WHEN s.status = 'running' THEN 1 END) AS running,
  count(CASE WHEN s.status = 'done' THEN 1 END) AS done, count(CASE WHEN s.status = 'failed' THEN 1 END) AS failed,
  count(CASE WHEN s.status = 'done' AND s.run_id IS DISTINCT FROM :latest THEN 1 END) AS reused`;

// Without -all only the current graph counts: superseded gather steps and what only old
// versions reach are history even when their task version is current. The graph is walked
// once into a temp table that both aggregates read (the CTE costs seconds on a million steps),
// and CROSS JOIN keeps SQLite from scanning step to probe it.
const CURRENT_FROM = `temp.status_step c CROSS JOIN step s ON s.id = c.id`;
const OBJECTS = (from: string) => `SELECT d.task AS taskId, count(*) AS objects, coalesce(sum(b.size), 0) AS bytes
      FROM (SELECT s.task AS task, o.object_hash AS hash FROM ${from} CROSS JOIN step_output o ON o.step_id = s.id
             GROUP BY s.task, o.object_hash) d
      LEFT JOIN object b ON b.hash = d.hash GROUP BY d.task`;

// The attempt that made a done step done is its latest: the step row counts them.
const RESOURCES = (
  from: string,
) => `SELECT s.task AS taskId, sum(a.cpu_user_ms) AS cpuUserMs, sum(a.cpu_sys_ms) AS cpuSysMs,
      max(a.max_rss_kb) AS maxRssKb
      FROM ${from} CROSS JOIN attempt a ON a.step_id = s.id AND a.attempt = s.attempts
     WHERE s.status = 'done' GROUP BY s.task`;

// Steps fed by more than one counted step of a current task version; a gather's many inputs are its design.
// The producer test is a probe per link (EXISTS), never `IN (SELECT ...)`: SQLite would turn that
// into a loop over the whole set for every step, probing step_link by (to, from): quadratic.
const MERGED = (from: string, producer: string) => `SELECT m.task AS taskId, count(*) AS merged FROM (
      SELECT s.task AS task FROM ${from}
        CROSS JOIN current_task g ON g.task_id = s.task AND NOT g.gather
        CROSS JOIN step_link l ON l.to_step_id = s.id
       WHERE EXISTS (${producer})
       GROUP BY s.id HAVING count(*) > 1) m GROUP BY m.task`;

export const TASK_STATUS_SQL = {
  latestRun: `SELECT id, manifest, started_at AS startedAt, finished_at AS finishedAt, exit_code AS exitCode
                FROM run ORDER BY id DESC LIMIT 1`,
  currentVersions: `SELECT c.name, c.task_id AS taskId, t.version FROM current_task c JOIN task t ON t.id = c.task_id
                     ORDER BY c.position`,
  allVersions: `SELECT t.name, t.id AS taskId, t.version, c.position AS position, (c.task_id IS NOT NULL) AS current
                  FROM task t LEFT JOIN current_task c ON c.name = t.name AND c.task_id = t.id
                 ORDER BY t.name, t.id DESC`,
  setup: `CREATE TEMP TABLE IF NOT EXISTS status_step (id INTEGER PRIMARY KEY); DELETE FROM temp.status_step;`,
  // What fillCurrentSteps('status_step') runs on SQLite (its plan is checked).
  fillCurrent: `INSERT OR IGNORE INTO temp.status_step(id) ${CURRENT_STEPS_CTE} SELECT id FROM cur`,
  teardown: `DROP TABLE IF EXISTS temp.status_step`,
  currentCounts: `SELECT ${COUNTS} FROM ${CURRENT_FROM} GROUP BY s.task`,
  currentObjects: OBJECTS(CURRENT_FROM),
  currentMerged: MERGED(CURRENT_FROM, 'SELECT 1 FROM temp.status_step p WHERE p.id = l.from_step_id'),
  allMerged: MERGED(
    'step s',
    'SELECT 1 FROM step f CROSS JOIN current_task p ON p.task_id = f.task WHERE f.id = l.from_step_id',
  ),
  allCounts: `SELECT ${COUNTS} FROM step s GROUP BY s.task`,
  allObjects: OBJECTS('step s'),
  currentResources: RESOURCES(CURRENT_FROM),
  allResources: RESOURCES('step s'),
  totals: `SELECT count(*) AS objects, coalesce(sum(size), 0) AS bytes FROM object`,
};

type Resources = Pick<TaskVersionStatus, 'cpuUserMs' | 'cpuSysMs' | 'maxRssKb'>;
type Counts = Pick<TaskVersionStatus, 'pending' | 'running' | 'done' | 'failed' | 'reused'>;

/** Rows keyed by task version. */
async function byTask<T extends { taskId: number }>(q: Query, sql: string, params?: Record<string, unknown>) {
  return new Map((await q.all<T>(sql, params)).map((r) => [r.taskId, r]));
}

/** The four aggregates, each a map by task version (the current graph's must be in temp.status_step). */
async function perTask(q: Query, all: boolean, latest: number | null) {
  const sql = TASK_STATUS_SQL;
  return {
    counts: await byTask<Counts & { taskId: number }>(q, all ? sql.allCounts : sql.currentCounts, { latest }),
    objects: await byTask<{ taskId: number; objects: number; bytes: number }>(
      q,
      all ? sql.allObjects : sql.currentObjects,
    ),
    merged: await byTask<{ taskId: number; merged: number }>(q, all ? sql.allMerged : sql.currentMerged),
    resources: await byTask<Resources & { taskId: number }>(q, all ? sql.allResources : sql.currentResources),
  };
}

/**
 * Per task version: its steps by status, reuse, and the objects its outputs hold. `footprint` (the
 * filesystem's block size) adds the object files' blocks and what `gc -history` would free.
 */
export async function taskStatus(q: Query, all: boolean, footprint?: { block: number }): Promise<DbStatus> {
  const latestRun = (await q.get<RunInfo>(TASK_STATUS_SQL.latestRun)) ?? null;
  // The current graph, walked once: what the counts read without -all, and what gc -history keeps.
  const walk = !all || footprint !== undefined;
  let disk: Pick<DbStatus, 'objectsDisk' | 'historyFrees'> = {};
  if (walk) {
    await q.exec(TASK_STATUS_SQL.setup);
    await q.fillCurrentSteps('status_step');
  }
  let maps: Awaited<ReturnType<typeof perTask>>;
  try {
    if (footprint)
      disk = {
        objectsDisk: await estimatedObjectUse(q, footprint.block),
        historyFrees: await historyFreesOf(q, footprint.block),
      };
    maps = await perTask(q, all, latestRun?.id ?? null);
  } finally {
    if (walk) await q.exec(TASK_STATUS_SQL.teardown);
  }
  const { counts, objects, merged, resources } = maps;
  const versions = all
    ? await allVersionsInOrder(q)
    : (await q.all<Version>(TASK_STATUS_SQL.currentVersions)).map((v) => ({ ...v, current: true }));
  const tasks = versions.map((v) => {
    const c = counts.get(v.taskId);
    const o = objects.get(v.taskId);
    const r = resources.get(v.taskId) ?? { cpuUserMs: null, cpuSysMs: null, maxRssKb: null };
    return {
      ...v,
      pending: c?.pending ?? 0,
      running: c?.running ?? 0,
      done: c?.done ?? 0,
      failed: c?.failed ?? 0,
      // Reuse is a property of the current graph; an old version's steps are history, not reuse.
      reused: v.current ? (c?.reused ?? 0) : 0,
      merged: merged.get(v.taskId)?.merged ?? 0,
      objects: o?.objects ?? 0,
      bytes: o?.bytes ?? 0,
      cpuMs: r.cpuUserMs === null || r.cpuSysMs === null ? null : r.cpuUserMs + r.cpuSysMs,
      cpuUserMs: r.cpuUserMs,
      cpuSysMs: r.cpuSysMs,
      maxRssKb: r.maxRssKb,
    };
  });
  const totals = (await q.get<{ objects: number; bytes: number }>(TASK_STATUS_SQL.totals))!;
  return { latestRun, tasks, ...totals, ...disk };
}

interface Version {
  name: string;
  taskId: number;
  version: string;
}

/** Tasks in manifest order, each current version followed by its older ones; then tasks no longer in the manifest. */
async function allVersionsInOrder(q: Query): Promise<(Version & { current: boolean })[]> {
  const rows = await q.all<Version & { position: number | null; current: number }>(TASK_STATUS_SQL.allVersions);
  const position = new Map<string, number>();
  for (const r of rows) if (r.position !== null) position.set(r.name, r.position);
  const rank = (name: string) => position.get(name) ?? Number.MAX_SAFE_INTEGER;
  return rows
    .map((r, i) => ({ r, i }))
    .sort(
      (a, b) =>
        rank(a.r.name) - rank(b.r.name) ||
        (a.r.name < b.r.name ? -1 : a.r.name > b.r.name ? 1 : 0) ||
        b.r.current - a.r.current ||
        a.i - b.i,
    )
    .map(({ r }) => ({ name: r.name, taskId: r.taskId, version: r.version, current: Boolean(r.current) }));
}
