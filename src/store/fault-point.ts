import { UserError } from '../errors.js';

/**
 * A test hook, like SQLite's: TASK_PIPELINE_FAULT=POINT:N kills the engine with SIGKILL the
 * Nth time it reaches POINT, so that the crash tests can land in windows a few microseconds
 * wide. Unset (always, outside those tests) it costs one comparison per point reached.
 */
export const FAULT_POINTS = {
  'after-rename':
    "an output renamed into objects/ (or the C helper's reply saying so), before the commit that names it",
  'in-commit': "a commit's step rows written, before its COMMIT",
  'after-commit': 'a commit done, before the run goes on (its working directories still in tmp/)',
  'in-listing': "a gather's listing object half written in tmp/",
} as const;

export type FaultPoint = keyof typeof FAULT_POINTS;

export const FAULT_VARIABLE = 'TASK_PIPELINE_FAULT';

let armed: { point: FaultPoint; left: number } | null = null;

/**
 * Read the variable, once, at the start of a run. It is taken out of the environment, so that
 * no script (a script may run the engine on a db of its own) inherits it.
 */
export function armFaultPoint(): void {
  const value = process.env[FAULT_VARIABLE];
  if (value === undefined) return;
  delete process.env[FAULT_VARIABLE];
  const m = /^([a-z-]+):([1-9][0-9]{0,8})$/.exec(value);
  if (!m || !Object.hasOwn(FAULT_POINTS, m[1]!)) {
    throw new UserError(
      'EUSAGE',
      `${FAULT_VARIABLE}=${value}: expected POINT:N (N from 1), POINT one of ` +
        `${Object.keys(FAULT_POINTS).join(', ')} (a test hook: it kills the run)`,
    );
  }
  armed = { point: m[1] as FaultPoint, left: Number(m[2]) };
}

/** True when `point` is the armed one (a caller may then take a slower path that reaches it). */
export function faultArmed(point: FaultPoint): boolean {
  return armed !== null && armed.point === point;
}

/** The engine reached `point`: on the Nth time, if that is the armed one, it dies at once. */
export function faultPoint(point: FaultPoint): void {
  if (armed === null || armed.point !== point) return;
  if (--armed.left === 0) process.kill(process.pid, 'SIGKILL');
}
