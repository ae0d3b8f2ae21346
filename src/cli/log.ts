import { join, resolve } from 'node:path';
import { errnoCode, UserError } from '../errors.js';
import { runningStepDir } from '../engine/running-scripts.js';
import { openDatabase } from '../store/database.js';
import { copyUnverified, copyVerified } from '../store/inspect/read-object.js';
import { stepDetail, type StepDetail } from '../store/inspect/step-detail.js';
import { LocalObjectStore } from '../store/object-store.js';
import { COMMON_FLAGS, DB_FLAG, type Command } from './command.js';
import { formatBytes, formatDuration } from './format.js';

export const command: Command = {
  name: 'log',
  summary: "Print a step's captured output (stdout and stderr), then its exit code, error, status, attempts and timings.",
  usage: 'log [-db ./db] STEP_ID',
  examples: ['task-pipeline log -db ./db 42'],
  flags: { db: DB_FLAG, ...COMMON_FLAGS },
  notes: [
    'The log is streamed as stored (and checked against its hash); the details follow it after a "---" line.',
    'Step ids are shown by a failed run, show and lineage.',
  ],
  async run(args, io) {
    const [id, extra] = args.positionals;
    if (id === undefined || extra !== undefined) throw new UserError('EUSAGE', "log: give one STEP_ID; see 'task-pipeline log --help'");
    const dbDir = String(args.flags.db);
    const db = openDatabase(dbDir, {});
    let detail: StepDetail;
    try {
      detail = stepDetail(db, dbDir, id);
    } finally {
      db.close();
    }
    // A running step's log grows in its working directory, found through its script.
    const workDir = detail.status === 'running' ? runningStepDir(resolve(dbDir, 'tmp'), detail.stepId) : null;
    const step = { ...detail, workDir };
    let last = -1;
    const see = (c: Buffer) => {
      if (c.length > 0) last = c[c.length - 1]!;
    };
    try {
      if (step.log) {
        const size = step.log.size ?? new LocalObjectStore(dbDir).stat(step.log.hash)?.size ?? 0;
        await copyVerified(dbDir, { hash: step.log.hash, size }, io.stdout, see);
      } else if (step.workDir !== null) {
        // Still running: what it has written so far. The step may end (and the file go) meanwhile.
        await copyUnverified(join(step.workDir, 'log'), io.stdout, see).catch((err: unknown) => {
          if (errnoCode(err) !== 'ENOENT') throw err;
        });
      }
    } catch (err) {
      if (errnoCode(err) === 'EPIPE') return 0;
      throw err;
    }
    // The details start on a line of their own, whatever the log ended with.
    const ended = last === -1 || last === 0x0a ? '' : '\n';
    io.stdout.write(`${ended}${formatDetail(step)}`);
    return 0;
  },
};

function formatDetail(s: StepDetail & { workDir: string | null }): string {
  const time = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
  const log = s.log === null
    ? s.workDir !== null ? `(running: the output above so far, from ${s.workDir}/log)`
      : s.status === 'running' ? '(running: not stored yet)'
      : s.status === 'pending' ? '(none: the step has not run yet)' : '(none stored)'
    : `${s.log.hash}${s.log.size === null ? '' : ` (${formatBytes(s.log.size)})`}`;
  const rows: [string, string][] = [
    ['step', `${s.stepId}`],
    ['task', `${s.task} (version ${s.version.slice(0, 8)}${s.current ? '' : ', old'})`],
    ['input', `${s.inputName === '' ? '(seed)' : s.inputName} ${s.inputHash}`],
    ['status', s.status],
    ['exit code', s.exitCode === null ? '-' : String(s.exitCode)],
    ['error', s.error ?? '-'],
    ['attempts', String(s.attempts)],
    ['started', time(s.startedAt)],
    ['finished', time(s.finishedAt)],
    ['duration', s.startedAt !== null && s.finishedAt !== null ? formatDuration(s.finishedAt - s.startedAt) : '-'],
    ['run', s.runId === null ? '-' : String(s.runId)],
    ['log', log],
  ];
  return `--- step ${s.stepId} ---\n${rows.map(([k, v]) => `${`${k}:`.padEnd(11)}${v}`).join('\n')}\n`;
}
