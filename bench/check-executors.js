#!/usr/bin/env node
// Same cases through ExecaExecutor and SpawnerExecutor; prints both results side by side and
// fails if they disagree. Run after a build: node bench/check-executors.js
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecaExecutor } from '../dist/executor/execa-executor.js';
import { ProcessGroups } from '../dist/executor/process-groups.js';
import { SpawnerExecutor } from '../dist/executor/spawner-executor.js';

const dir = mkdtempSync(join(tmpdir(), 'exec-check-'));
const groups = new ProcessGroups();
const execa = new ExecaExecutor(groups, 300);
const spawner = new SpawnerExecutor(groups, { limit: 64, fallback: execa, graceMs: 300 });
const env = { PATH: process.env.PATH, GREETING: 'hi there', EMPTY: '' };
const sh = (script) => ['sh', '-e', '-c', script];
const cases = [
  ['exit 0 + env + cwd', sh('echo "$GREETING|$EMPTY|$(pwd)|$(cat)"; echo err >&2'), {}],
  ['exit 3', sh('exit 3'), {}],
  ['killed by SIGKILL', sh('kill -KILL $$'), {}],
  ['timeout kills the group', sh('sleep 30 & sleep 30; echo never'), { timeoutMs: 200 }],
  ['abort', sh('trap "" TERM; sleep 30'), { abortAfter: 100 }],
  ['missing program', ['/no/such/shell', '-c', 'true'], {}],
  ['daemonised child is killed', sh('(sleep 30; echo leaked > leak) & echo started'), {}],
  ['SIGPIPE has its default action', sh('yes | head -n 1'), {}],
  ['newline and quote in argv', ['sh', '-c', 'printf "%s|" "$0" "$1"', 'a\nb', "c'd"], {}],
];
let bad = 0;
for (const [name, argv, o] of cases) {
  const rows = [];
  for (const [label, ex] of [
    ['execa', execa],
    ['spawner', spawner],
  ]) {
    const log = join(dir, `${label}.log`);
    const fd = openSync(log, 'w');
    const abort = new AbortController();
    if (o.abortAfter) setTimeout(() => abort.abort(), o.abortAfter);
    const t0 = Date.now();
    const r = await ex.run({
      argv,
      cwd: dir,
      env,
      stdout: fd,
      stderr: fd,
      timeoutMs: o.timeoutMs ?? null,
      signal: abort.signal,
    });
    closeSync(fd);
    const text = readFileSync(log, 'utf8').replace(/\n/g, '\\n');
    rows.push({
      label,
      ms: Date.now() - t0,
      r: { ...r, spawnError: r.spawnError ? 'yes' : null },
      text: text.replace(/\/no\/such.*$/, '<error>'),
    });
  }
  const same = JSON.stringify(rows[0].r) === JSON.stringify(rows[1].r) && rows[0].text === rows[1].text;
  if (!same) bad++;
  console.log(`${same ? 'same' : 'DIFF'}  ${name}`);
  for (const row of rows)
    console.log(
      `      ${row.label.padEnd(8)} ${String(row.ms).padStart(5)} ms ${JSON.stringify(row.r)} out=${JSON.stringify(row.text)}`,
    );
}
await new Promise((r) => setTimeout(r, 300));
let leaked = false;
try {
  readFileSync(join(dir, 'leak'));
  leaked = true;
} catch {
  /* no leak file: nothing survived */
}
console.log(leaked ? 'DIFF  a daemonised child survived' : 'same  no daemonised child survived');
spawner.close();
rmSync(dir, { recursive: true, force: true });
process.exitCode = bad || leaked ? 1 : 0;
