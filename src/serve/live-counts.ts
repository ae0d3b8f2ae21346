import { value, type Query } from '../store/inspect/query.js';
import { TASK_STATUS_SQL, taskStatus, type RunInfo } from '../store/inspect/task-status.js';

/**
 * Above this many steps in the current task versions, the exact counts of the current graph
 * (taskStatus: a walk of the whole graph, plus merged items over every link) take seconds and grow
 * with the graph, too slow for a view that refreshes itself; the view then counts each current
 * version's steps by status on its index instead.
 */
export const EXACT_UP_TO = 100_000;

export interface TaskCounts {
  name: string;
  taskId: number;
  version: string;
  pending: number;
  running: number;
  done: number;
  failed: number;
  /** null when not counted (a big db): they need the graph walk. */
  reused: number | null;
  merged: number | null;
  objects: number | null;
  bytes: number | null;
}

export interface LiveCounts {
  /** true: the current graph, as `status` prints it; false: every step of each current version, history included. */
  exact: boolean;
  latestRun: RunInfo | null;
  tasks: TaskCounts[];
  objects: number | null;
  bytes: number | null;
}

const SQL = {
  stepsUpTo: `SELECT count(*) FROM (SELECT 1 FROM step WHERE task = ? LIMIT ?) t`,
  // One range of idx_step_task(task, status, id) per status: no table row is read.
  byStatus: `SELECT count(*) FROM step WHERE task = ? AND status = ?`,
};

export async function liveCounts(q: Query): Promise<LiveCounts> {
  const versions = await q.all<{ name: string; taskId: number; version: string }>(TASK_STATUS_SQL.currentVersions);
  let left = EXACT_UP_TO + 1;
  for (const v of versions) left -= (await value<number>(q, SQL.stepsUpTo, [v.taskId, left]))!;
  if (left > 0) {
    const s = await taskStatus(q, false);
    return { exact: true, latestRun: s.latestRun, tasks: s.tasks, objects: s.objects, bytes: s.bytes };
  }
  const tasks: TaskCounts[] = [];
  for (const v of versions) {
    const count = async (status: string) => (await value<number>(q, SQL.byStatus, [v.taskId, status]))!;
    tasks.push({
      ...v,
      pending: await count('pending'),
      running: await count('running'),
      done: await count('done'),
      failed: await count('failed'),
      reused: null,
      merged: null,
      objects: null,
      bytes: null,
    });
  }
  return {
    exact: false,
    latestRun: (await q.get<RunInfo>(TASK_STATUS_SQL.latestRun)) ?? null,
    tasks,
    objects: null,
    bytes: null,
  };
}
