import { closeSync, openSync } from 'node:fs';
import type { TaskSpec } from '../manifest/index.js';
import { encodeRequest, requestFromEnv } from '../executor/lines/codec.js';
import { LinesProcess } from '../executor/lines/lines-process.js';
import { withHelper } from '../executor/lines/process-setup.js';
import { failureOf } from '../executor/lines/run-lines-step.js';
import { KILL_GRACE_MS } from '../executor/process-groups.js';
import { scriptArgv } from '../engine/step-input.js';

/**
 * audit's re-run of a step of a protocol = "lines" task: a fresh process that gets this one
 * request, then EOF. A process that kept state between steps in the run answers differently
 * here, and audit reports the outputs that differ. Returns why it failed, or null.
 */
export async function runLinesAside(
  spec: TaskSpec,
  cwd: string,
  env: Record<string, string>,
  dir: string,
  timeoutMs: number,
): Promise<string | null> {
  const log = openSync(`${dir}/log`, 'w');
  const proc = new LinesProcess({ argv: scriptArgv(spec, dir), cwd, env: withHelper(env), graceMs: KILL_GRACE_MS });
  try {
    const never = new AbortController();
    const ex = await proc.exchange(encodeRequest(requestFromEnv(env)), { logFd: log }, timeoutMs, never.signal);
    return failureOf(ex, timeoutMs / 1000, false);
  } finally {
    await proc.close();
    closeSync(log);
  }
}
