import { join, resolve } from 'node:path';
import { errnoCode, UserError } from '../errors.js';
import { runningStepDir } from '../executor/running-scripts.js';
import { copyUnverified, copyVerified } from '../store/inspect/read-object.js';
import { stepAttempts, type StepAttempt } from '../store/inspect/step-attempts.js';
import { stepDetail } from '../store/inspect/step-detail.js';
import { LocalObjectStore } from '../store/object-store.js';
import { COMMON_FLAGS, DB_FLAG, STORE_FLAG, JSON_FLAG, type Command } from './command.js';
import { formatLogDetail, logJson, type LogView } from './log-format.js';
import { withInspectDb } from './inspect-db.js';

export const command: Command = {
  name: 'log',
  summary:
    "Print a step's captured output (stdout and stderr), then its status, every attempt (exit code or error, duration, CPU, peak RSS) and timings.",
  usage: 'log [-db ./db | -db postgres://... -store DIR] STEP_ID [-attempt N] [-json]',
  examples: [
    'task-pipeline log -db ./db 42',
    'task-pipeline log -db ./db 42 -attempt 1',
    'task-pipeline log -db ./db 42 -json | jq .attempts',
  ],
  flags: {
    db: DB_FLAG,
    store: STORE_FLAG,
    attempt: {
      type: 'int',
      value: 'N',
      help: "print attempt N's output instead of the latest one (attempts count from 1)",
    },
    json: {
      ...JSON_FLAG,
      help: 'print the details and every attempt as JSON (each log by its hash, for cat), not the output',
    },
    ...COMMON_FLAGS,
  },
  notes: [
    'The log is streamed as stored (and checked against its hash); the details follow it after a "---" line, then',
    "  one line per attempt: a failed attempt, each retry (a task's `retries`), each later run of a failed step.",
    "CPU (user + system time) and peak RSS are those of the script's process tree as the kernel reports them when it",
    '  exits; "not measured" where the executor that ran it could not tell.',
    'Step ids are shown by a failed run, show and lineage.',
  ],
  async run(args, io) {
    const [id, extra] = args.positionals;
    if (id === undefined || extra !== undefined)
      throw new UserError('EUSAGE', "log: give one STEP_ID; see 'task-pipeline log --help'");
    const wanted = args.flags.attempt as number | undefined;
    if (wanted !== undefined && args.flags.json) {
      throw new UserError(
        'EUSAGE',
        'log: -json prints no output, so -attempt has nothing to choose (every attempt is in the JSON)',
      );
    }
    const { detail, attempts, dbDir, dbArgs, local } = await withInspectDb(
      'log',
      args,
      async (db) => {
        const d = await stepDetail(db, id);
        return {
          detail: d,
          attempts: await stepAttempts(db.q, d.stepId),
          dbDir: db.store,
          dbArgs: db.dbArgs,
          local: db.q.engine === 'sqlite',
        };
      },
      { objects: true },
    );
    // A running step's log grows in its working directory, found through its script; its row may
    // still name an earlier attempt's log. A worker's is on its own host: not found from here.
    const running = detail.status === 'running' && wanted === undefined;
    const workDir = running && local ? runningStepDir(resolve(dbDir, 'tmp'), detail.stepId) : null;
    const shown = running ? null : shownAttempt(detail.stepId, detail.attempts, attempts, wanted);
    const view: LogView = { ...detail, workDir, attemptList: attempts, shown, running };
    if (args.flags.json) {
      io.stdout.write(`${JSON.stringify(logJson(view), null, 2)}\n`);
      return 0;
    }
    const log = running ? null : shown ? shown.log : detail.log;
    let last = -1;
    const see = (c: Buffer) => {
      if (c.length > 0) last = c[c.length - 1]!;
    };
    try {
      if (log) {
        const size = log.size ?? new LocalObjectStore(dbDir).stat(log.hash)?.size ?? 0;
        await copyVerified(dbDir, { hash: log.hash, size }, io.stdout, see, dbArgs);
      } else if (workDir !== null) {
        // Still running: what it has written so far. The step may end (and the file go) meanwhile.
        await copyUnverified(join(workDir, 'log'), io.stdout, see).catch((err: unknown) => {
          if (errnoCode(err) !== 'ENOENT') throw err;
        });
      }
    } catch (err) {
      if (errnoCode(err) === 'EPIPE') return 0;
      throw err;
    }
    // The details start on a line of their own, whatever the log ended with.
    const ended = last === -1 || last === 0x0a ? '' : '\n';
    io.stdout.write(`${ended}${formatLogDetail(view)}`);
    return 0;
  },
};

/**
 * The attempt whose output is printed: the one asked for, or the latest recorded one when the
 * step's log is its (not while the step runs again). A number that names no attempt is a usage error.
 */
function shownAttempt(
  stepId: number,
  count: number,
  attempts: StepAttempt[],
  wanted: number | undefined,
): StepAttempt | null {
  if (wanted === undefined) return attempts.find((a) => a.attempt === count) ?? null;
  const found = attempts.find((a) => a.attempt === wanted);
  if (found) return found;
  const recorded =
    attempts.length === 0 ? 'none is recorded' : `recorded: ${attempts.map((a) => a.attempt).join(', ')}`;
  if (wanted <= count) {
    throw new UserError(
      'ENOATTEMPT',
      `log: attempt ${wanted} of step ${stepId} was not recorded: it ran before this db kept every attempt (${recorded})`,
    );
  }
  throw new UserError('ENOATTEMPT', `log: step ${stepId} has no attempt ${wanted}: it has had ${count} (${recorded})`);
}
