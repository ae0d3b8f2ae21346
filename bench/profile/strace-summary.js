#!/usr/bin/env node
// Summarise `strace -f -ff -T -o DIR/t <engine>`: syscalls of the engine process only
// (its main thread and its libuv/V8 threads), not of the scripts it spawned.
// A traced task that ever calls execve, other than node's own, is a child (a script or the helper).
// usage: strace -f -ff [-T] -o DIR/t -e trace=file,desc,process node dist/cli/main.js ...
//        node bench/profile/strace-summary.js DIR [STEPS]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, stepsArg] = process.argv.slice(2);
if (!dir) {
  console.error('usage: strace-summary.js DIR [STEPS]');
  process.exit(2);
}
const steps = Number(stepsArg ?? 1);
const files = readdirSync(dir)
  .filter((f) => /\.\d+$/.test(f))
  .map((f) => ({ f, pid: Number(f.slice(f.lastIndexOf('.') + 1)) }))
  .sort((a, b) => a.pid - b.pid);
// The engine's main thread is the task whose first call is the execve of node itself (pids
// may wrap around, so not necessarily the smallest).
const firstLine = (f) => readFileSync(join(dir, f), 'utf8').split('\n', 1)[0];
const main = (files.find(({ f }) => /^execve\("[^"]*\/node"/.test(firstLine(f))) ?? files[0]).pid;
const line = /^(?:\d+\s+)?([a-z_0-9]+)\((.*)\)\s+=\s+(-?\w+)(?:\s+(\w+))?.*?(?:<([\d.]+)>)?$/;
const perThread = [];
const total = new Map();
let children = 0;
for (const { f, pid } of files) {
  const text = readFileSync(join(dir, f), 'utf8');
  if (pid !== main && text.includes('execve(')) {
    children++;
    continue;
  }
  let n = 0;
  for (const l of text.split('\n')) {
    const m = line.exec(l);
    if (!m) continue;
    n++;
    const key = m[1];
    const t = total.get(key) ?? { calls: 0, errors: 0, secs: 0 };
    t.calls++;
    if (m[3].startsWith('-')) t.errors++;
    t.secs += Number(m[5] ?? 0);
    total.set(key, t);
  }
  perThread.push({ pid, main: pid === main, calls: n });
}
console.log(
  `engine pid ${main}: ${perThread.length} threads, ${children} child processes ignored; per step = / ${steps}`,
);
// Durations are there only when strace ran with -T (and are inflated by tracing).
const timed = [...total.values()].some((t) => t.secs > 0);
console.log(`syscall               calls   errors   per-step${timed ? '   total-s' : ''}`);
for (const [k, t] of [...total].sort((a, b) => b[1].calls - a[1].calls)) {
  const secs = timed ? t.secs.toFixed(3).padStart(10) : '';
  console.log(
    `${k.padEnd(20)}${String(t.calls).padStart(7)}${String(t.errors).padStart(9)}${(t.calls / steps).toFixed(2).padStart(11)}${secs}`,
  );
}
const sum = [...total.values()].reduce((a, t) => a + t.calls, 0);
console.log(`all                 ${String(sum).padStart(7)}${''.padStart(9)}${(sum / steps).toFixed(2).padStart(11)}`);
