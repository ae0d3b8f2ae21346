import type { StepStatus } from '../metadata-store.js';

/** A step as the inspection commands name it: id, task, which version, how it stands. */
export interface StepRef {
  stepId: number;
  task: string;
  /** The task version (sha256 of its definition). */
  version: string;
  /** false when the manifest has moved on to another version of this task (history). */
  current: boolean;
  status: StepStatus;
}

/** Columns and joins that turn a `step s` row into a StepRef; every join is a primary-key lookup. */
export const STEP_REF_COLUMNS = `s.id AS stepId, t.name AS task, t.version AS version, s.status AS status,
  (c.task_id IS NOT NULL) AS current`;
export const STEP_REF_JOINS = `JOIN task t ON t.id = s.task
  LEFT JOIN current_task c ON c.name = t.name AND c.task_id = t.id`;

/** A row as SQLite returns it: it has no booleans, so `current` is 0 or 1. */
export type RawRow<T extends { current: boolean }> = Omit<T, 'current'> & { current: number };

export function toStepRef<T extends { current: boolean }>(row: RawRow<T>): T {
  return { ...row, current: Boolean(row.current) } as unknown as T;
}
