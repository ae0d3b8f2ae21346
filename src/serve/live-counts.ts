import type Database from 'better-sqlite3';
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
  stepsUpTo: `SELECT count(*) FROM (SELECT 1 FROM step WHERE task = ? LIMIT ?)`,
  // One range of idx_step_task(task, status, id) per status: no table row is read.
  byStatus: `SELECT count(*) FROM step WHERE task = ? AND status = ?`,
};

export function liveCounts(db: Database.Database): LiveCounts {
  const versions = db.prepare(TASK_STATUS_SQL.currentVersions).all() as {
    name: string;
    taskId: number;
    version: string;
  }[];
  const upTo = db.prepare(SQL.stepsUpTo).pluck();
  let left = EXACT_UP_TO + 1;
  for (const v of versions) left -= upTo.get(v.taskId, left) as number;
  if (left > 0) {
    const s = taskStatus(db, false);
    return { exact: true, latestRun: s.latestRun, tasks: s.tasks, objects: s.objects, bytes: s.bytes };
  }
  const count = db.prepare(SQL.byStatus).pluck();
  return {
    exact: false,
    latestRun: (db.prepare(TASK_STATUS_SQL.latestRun).get() as RunInfo | undefined) ?? null,
    tasks: versions.map((v) => ({
      ...v,
      pending: count.get(v.taskId, 'pending') as number,
      running: count.get(v.taskId, 'running') as number,
      done: count.get(v.taskId, 'done') as number,
      failed: count.get(v.taskId, 'failed') as number,
      reused: null,
      merged: null,
      objects: null,
      bytes: null,
    })),
    objects: null,
    bytes: null,
  };
}
