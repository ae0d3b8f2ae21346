import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const TIME_BIN = '/usr/bin/time';
export const hasTime = () => existsSync(TIME_BIN);

/**
 * Run argv to completion and measure it from outside: wall time with hrtime, and the peak RSS
 * (KiB) that `/usr/bin/time -v` reads from wait4(): the largest of the process and the
 * descendants it waited for, which for the engine is the engine itself (its scripts are small).
 */
export function timed(argv, { cwd, env, stdout = 'ignore', stderr = 'pipe', tmpDir, onStart } = {}) {
  const rssFile = tmpDir && hasTime() ? join(tmpDir, `time-${process.pid}-${Date.now()}.txt`) : null;
  const full = rssFile ? [TIME_BIN, '-v', '-o', rssFile, ...argv] : argv;
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const startedAt = Date.now();
    // Its own process group, so that a benchmark can interrupt the whole command.
    const child = spawn(full[0], full.slice(1), { cwd, env, stdio: ['ignore', stdout, stderr], detached: true });
    let err = '';
    child.stderr?.on('data', (c) => {
      err = (err + c).slice(-4000);
    });
    child.on('error', reject);
    onStart?.(child);
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      let rssKb = null;
      if (rssFile && existsSync(rssFile)) {
        const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(readFileSync(rssFile, 'utf8'));
        rssKb = m ? Number(m[1]) : null;
        rmSync(rssFile, { force: true });
      }
      resolve({ ms, rssKb, code, signal, stderr: err, startedAt });
    });
  });
}

/** Like timed(), but a non-zero exit is an error: a benchmark that failed measured nothing. */
export async function timedOk(label, argv, opts) {
  const r = await timed(argv, opts);
  if (r.code !== 0) throw new Error(`${label}: exit ${r.code ?? r.signal}\n${r.stderr}`);
  return r;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
