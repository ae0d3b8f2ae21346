// The statements behind the web view. Each page must stay fast on a task with a million steps:
// every query here starts from an index or a primary key and reads a bounded number of rows.
import { COUNT_CAP } from '../store/inspect/count-cap.js';
import { BYTES, value, type Query } from '../store/inspect/query.js';

/** A page of steps; a page more would be a scroll nobody reads. */
export const PAGE = 100;
/** A search by output name scans step_output (no index on name): this many of the newest rows at most. */
export const NAME_SCAN = 50_000;

export const STATUSES = ['pending', 'running', 'done', 'failed'] as const;
export type Status = (typeof STATUSES)[number];

const STEP_ROW = `s.id AS id, s.input_name AS inputName, lower(hex(s.object_hash)) AS inputHash, s.status AS status,
  s.attempts AS attempts, s.exit_code AS exitCode, s.error AS error, s.started_at AS startedAt, s.finished_at AS finishedAt`;

export const SERVE_SQL = {
  graphTasks: `SELECT c.name AS name, c.task_id AS taskId, t.version AS version, c.position AS position,
                      c.is_root AS isRoot, c.gather AS gather
                 FROM current_task c JOIN task t ON t.id = c.task_id ORDER BY c.position`,
  graphEdges: `SELECT f.name AS "from", t.name AS "to", e.match AS match
                 FROM current_edge e JOIN current_task f ON f.task_id = e.from_task_id
                 JOIN current_task t ON t.task_id = e.to_task_id ORDER BY f.position, t.position`,
  // Through the partial index idx_run_input_current, capped like every count here.
  currentInputs: `SELECT count(*) FROM (SELECT 1 FROM run_input WHERE retired_at IS NULL LIMIT ${COUNT_CAP + 1}) i`,
  runs: `SELECT id, manifest, pid, started_at AS startedAt, finished_at AS finishedAt, exit_code AS exitCode, summary
           FROM run ORDER BY id DESC LIMIT ?`,
  run: `SELECT id, manifest, pid, started_at AS startedAt, finished_at AS finishedAt, exit_code AS exitCode, summary
          FROM run WHERE id = ?`,
  versions: `SELECT t.id AS taskId, t.version AS version, t.created_at AS createdAt, t.definition AS definition,
                    (c.task_id IS NOT NULL) AS current
               FROM task t LEFT JOIN current_task c ON c.task_id = t.id WHERE t.name = ? ORDER BY t.id DESC LIMIT 51`,
  currentSpec: `SELECT spec, gather, is_root AS isRoot, task_id AS taskId FROM current_task WHERE name = ?`,
  // Keyset pages on idx_step_task(task, status, id): never OFFSET, never a count of the whole task.
  stepsAfter: `SELECT ${STEP_ROW} FROM step s WHERE s.task = ? AND s.status = ? AND s.id > ? ORDER BY s.id LIMIT ?`,
  stepsBefore: `SELECT ${STEP_ROW} FROM step s WHERE s.task = ? AND s.status = ? AND s.id < ? ORDER BY s.id DESC LIMIT ?`,
  cappedCount: `SELECT count(*) FROM (SELECT 1 FROM step WHERE task = ? AND status = ? LIMIT ${COUNT_CAP + 1}) s`,
  outputs: `SELECT o.name AS name, lower(hex(o.object_hash)) AS hash, b.size AS size
              FROM step_output o LEFT JOIN object b ON b.hash = o.object_hash WHERE o.step_id = ? ORDER BY o.name ${BYTES} LIMIT ?`,
  countOutputs: `SELECT count(*) FROM (SELECT 1 FROM step_output WHERE step_id = ? LIMIT ${COUNT_CAP + 1}) o`,
  upstream: `SELECT l.from_step_id AS stepId, t.name AS task FROM step_link l JOIN step s ON s.id = l.from_step_id
               JOIN task t ON t.id = s.task WHERE l.to_step_id = ? ORDER BY l.from_step_id LIMIT ?`,
  stepResources: `SELECT a.cpu_user_ms, a.cpu_sys_ms, a.max_rss_kb FROM step s
    JOIN attempt a ON a.step_id = s.id AND a.attempt = s.attempts WHERE s.id = ?`,
  stepExists: `SELECT id FROM step WHERE id = ?`,
  objectsByPrefix: `SELECT lower(hex(hash)) AS hash, size FROM object WHERE hash >= ? AND hash < ? ORDER BY object.hash LIMIT ?`,
  inputsByName: `SELECT name, lower(hex(object_hash)) AS hash, (retired_at IS NULL) AS current FROM run_input WHERE name = ? ORDER BY id DESC LIMIT 20`,
  // The newest NAME_SCAN outputs only (the primary key read backwards): a bounded scan, said so in the page.
  outputsByName: `SELECT step_id AS stepId, name, lower(hex(object_hash)) AS hash FROM (
                    SELECT step_id, name, object_hash FROM step_output ORDER BY step_id DESC LIMIT ${NAME_SCAN}) o
                   WHERE name = :q OR instr(name, :q) > 0 ORDER BY name <> :q, step_id DESC LIMIT :limit`,
};

export interface StepRow {
  id: number;
  inputName: string;
  inputHash: string;
  status: Status;
  attempts: number;
  exitCode: number | null;
  error: string | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface StepPage {
  steps: StepRow[];
  /** Ids to ask for the neighbouring pages with (after= / before=), null at either end. */
  next: number | null;
  prev: number | null;
}

/**
 * One page of a task version's steps, in id order, after (or before) a step id. For every
 * status at once the four index ranges are read a page each and merged: still four short reads,
 * where one `ORDER BY id` over the task would sort all of its steps.
 */
export async function stepPage(
  q: Query,
  taskId: number,
  status: Status | 'all',
  cursor: { after?: number; before?: number },
): Promise<StepPage> {
  const statuses = status === 'all' ? [...STATUSES] : [status];
  const backwards = cursor.before !== undefined;
  const sql = backwards ? SERVE_SQL.stepsBefore : SERVE_SQL.stepsAfter;
  const key = backwards ? cursor.before! : (cursor.after ?? 0);
  const rows: StepRow[] = [];
  for (const s of statuses) rows.push(...(await q.all<StepRow>(sql, [taskId, s, key, PAGE + 1])));
  rows.sort((a, b) => (backwards ? b.id - a.id : a.id - b.id));
  const more = rows.length > PAGE;
  const page = rows.slice(0, PAGE);
  if (backwards) page.reverse();
  const first = page[0]?.id ?? null;
  const last = page[page.length - 1]?.id ?? null;
  return {
    steps: page,
    next: backwards ? last : more ? last : null,
    // Going forwards from the start there is nothing before; otherwise the page before may be empty, and says so.
    prev: backwards ? (more ? first : null) : key > 0 ? first : null,
  };
}

/** Per status, how many steps a task version has, up to COUNT_CAP (then "10000+"). */
export async function cappedCounts(q: Query, taskId: number): Promise<Record<Status, number>> {
  const counts: Partial<Record<Status, number>> = {};
  for (const s of STATUSES) counts[s] = (await value<number>(q, SERVE_SQL.cappedCount, [taskId, s]))!;
  return counts as Record<Status, number>;
}

/** The step table's columns as the engine of this db made them. */
/** What a step's latest attempt cost (the attempt table; null where the executor did not measure it). */
export function resourceColumns(): { cpu: string[]; rss: string[] } {
  return { cpu: ['cpu_user_ms', 'cpu_sys_ms'], rss: ['max_rss_kb'] };
}

/** A run row's summary column, parsed; null while the run goes on, or when it does not parse. */
export function parseSummary(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
