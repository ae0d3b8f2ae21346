import type { StepAttempt } from '../store/inspect/step-attempts.js';
import type { StepDetail } from '../store/inspect/step-detail.js';
import { formatBytes, formatDuration, table } from './format.js';

/** What `log` knows of a step: its row, every recorded attempt, and which output it prints. */
export interface LogView extends StepDetail {
  /** The working directory of the step's running script, when it runs now. */
  workDir: string | null;
  /** The step runs now and its output so far is printed (no -attempt). */
  running: boolean;
  attemptList: StepAttempt[];
  /** The attempt whose output is printed; null while running, or when none is recorded. */
  shown: StepAttempt | null;
}

export function formatLogDetail(s: LogView): string {
  const time = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
  const log = s.shown ? s.shown.log : s.running ? null : s.log;
  const logText =
    log === null
      ? s.running
        ? s.workDir !== null
          ? `(running: the output above so far, from ${s.workDir}/log)`
          : '(running: not stored yet)'
        : s.attempts === 0
          ? '(none: the step has not run yet)'
          : '(none stored)'
      : `${log.hash}${log.size === null ? '' : ` (${formatBytes(log.size)})`}`;
  // Of the latest attempt: a step retried three times took three durations, listed below.
  const latest = s.attempts > 1 ? ` (attempt ${s.attempts} of ${s.attempts}; each attempt is listed below)` : '';
  const duration =
    s.status === 'running'
      ? '(running)'
      : s.startedAt !== null && s.finishedAt !== null && s.startedAt <= s.finishedAt
        ? `${formatDuration(s.finishedAt - s.startedAt)}${latest}`
        : '-';
  const rows: [string, string][] = [
    ['step', `${s.stepId}`],
    ['task', `${s.task} (version ${s.version.slice(0, 8)}${s.current ? '' : ', old'})`],
    ['input', `${s.inputName === '' ? '(seed)' : s.inputName} ${s.inputHash}`],
    ['status', s.status],
    ['exit code', s.exitCode === null ? '-' : String(s.exitCode)],
    ['error', s.error ?? '-'],
    ['attempts', String(s.attempts)],
    ['started', time(s.startedAt)],
    ['finished', s.status === 'running' ? '-' : time(s.finishedAt)],
    ['duration', duration],
    ['run', s.runId === null ? '-' : String(s.runId)],
    ['log', logText],
  ];
  const output = outputLine(s);
  if (output !== null) rows.push(['output', output]);
  const lines = rows.map(([k, v]) => `${`${k}:`.padEnd(11)}${v}`);
  lines.push(...attemptLines(s));
  return `--- step ${s.stepId} ---\n${lines.join('\n')}\n`;
}

/** Which attempt the output above is, when there is more than one to choose from. */
function outputLine(s: LogView): string | null {
  if (s.running)
    return s.attempts > 0 ? `the running attempt's (${s.attempts + 1}), above; -attempt N prints an earlier one` : null;
  if (s.shown === null || (s.attempts <= 1 && s.shown.attempt === s.attempts)) return null;
  return `attempt ${s.shown.attempt}'s, above${s.shown.attempt === s.attempts ? ' (the latest)' : ''}; -attempt N prints another`;
}

/** A table of the attempts, under a blank line; nothing for a step that never ran. */
function attemptLines(s: LogView): string[] {
  const list = s.attemptList;
  const first = list.length > 0 ? list[0]!.attempt : s.attempts + 1;
  const lines: string[] = [];
  const rows = list.map((a) => [
    a.attempt,
    a.runId === null ? '-' : String(a.runId),
    a.startedAt === null ? '-' : new Date(a.startedAt).toISOString(),
    a.startedAt === null ? '-' : formatDuration(a.endedAt - a.startedAt),
    cpuText(a),
    rssText(a),
    resultText(a),
  ]);
  if (s.status === 'running') {
    rows.push([
      s.attempts + 1,
      s.runId === null ? '-' : String(s.runId),
      s.startedAt === null ? '-' : new Date(s.startedAt).toISOString(),
      '-',
      '-',
      '-',
      'running',
    ]);
  }
  if (rows.length > 0)
    lines.push('', table(['attempt', 'run', 'started', 'duration', 'CPU user + sys', 'peak RSS', 'result'], rows));
  if (first > 1) {
    const which = first === 2 ? 'attempt 1 was not recorded: it' : `attempts 1 to ${first - 1} were not recorded: they`;
    lines.push(`(${which} ran before this db kept every attempt)`);
  }
  return lines;
}

function cpuText(a: StepAttempt): string {
  return a.cpuUserMs === null || a.cpuSysMs === null
    ? 'not measured'
    : `${formatDuration(a.cpuUserMs)} + ${formatDuration(a.cpuSysMs)}`;
}

function rssText(a: StepAttempt): string {
  return a.maxRssKb === null ? 'not measured' : formatBytes(a.maxRssKb * 1024);
}

/** ok, or the exit code, the signal or the error that failed it, in the words of the step's error. */
function resultText(a: StepAttempt): string {
  if (a.status === 'done') return 'ok';
  return (
    a.error ??
    (a.exitCode !== null ? `exit code ${a.exitCode}` : a.signal !== null ? `killed by ${a.signal}` : 'failed')
  );
}

/** `log -json`: the step, and every recorded attempt with its duration; logs by hash (cat prints them). */
export function logJson(s: LogView): unknown {
  return {
    stepId: s.stepId,
    task: s.task,
    version: s.version,
    current: s.current,
    status: s.status,
    inputName: s.inputName,
    inputHash: s.inputHash,
    exitCode: s.exitCode,
    error: s.error,
    runId: s.runId,
    createdAt: s.createdAt,
    startedAt: s.startedAt,
    finishedAt: s.status === 'running' ? null : s.finishedAt,
    log: s.running ? null : s.log,
    runningIn: s.workDir,
    attemptCount: s.attempts,
    attempts: s.attemptList.map((a) => ({ ...a, durationMs: a.startedAt === null ? null : a.endedAt - a.startedAt })),
  };
}
