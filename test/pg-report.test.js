// `-report FILE.html` on a run on PostgreSQL (issue 19): the same report as the same run on SQLite
// gives, once what differs by nature (times, step ids, the db's name) is set aside.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cli, workspace } from './helpers.js';
import { postgresMissing, startPostgres } from './pg-cluster.js';
import { ENV, MANIFEST, relabel, stop, worker } from './pg-compare.js';

const missing = postgresMissing();
if (missing) console.log(`# skipped: ${missing}`);
const pg = missing ? null : await startPostgres(after);
const skip = missing ?? false;

/** The report's text with `TASK step N` as the step's label, and what a clock or a host decides blanked. */
function normal(side, html) {
  const label = (id) => side.labels.get(Number(id)) ?? `unknown ${id}`;
  return (
    html
      .replace(/db <code>[^<]*<\/code>/, 'db <code>DB</code>')
      .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'TIME')
      .replace(/<svg[\s\S]*?<\/svg>/g, '<svg/>')
      .replace(/; median [^<]*/g, '')
      .replace(/(<th>took<\/th><td>)[^<]*/, '$1T')
      .replace(/(<th>engine peak RSS<\/th><td>)[^<]*/, '$1R')
      // Each engine counts the objects a run added its own way (a local run: those its steps made).
      .replace(/(<th>objects added<\/th><td>)[^<]*/, '$1N')
      .replace(/([\w-]+) step (\d+)/g, (_m, task, id) => `${task} step ${label(id)}`)
      // CPU and memory of each task: measured, so they differ by run; whether they were is kept.
      .replace(/<section id="resources">[\s\S]*?<\/section>/, (s) => s.replace(/>\d+</g, '>N<'))
  );
}

test('-report on PostgreSQL writes the report the same run gives on SQLite', { skip }, async (t) => {
  const w = workspace(t);
  w.write('m.toml', MANIFEST);
  w.write('in/a.txt', 'alpha\n');
  w.write('in/b.txt', 'beta\n');
  w.write('in/bad.txt', 'never read\n');
  const url = await pg.newDb();
  const store = w.path('store');
  // A worker takes some of the steps: their rows and logs come into the report like the coordinator's.
  const workers = [worker(t, url, store)];
  const d = { w, url, local: { dir: w.db }, remote: { dir: store } };
  const reports = [];
  for (const args of [
    ['-db', w.db],
    ['-db', url, '-store', store],
  ]) {
    const file = w.path(`r${reports.length}.html`);
    const r = cli(['-manifest', w.path('m.toml'), ...args, '-input', w.path('in'), '-report', file], { env: ENV });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /check step \d+: exit code 3/);
    reports.push(readFileSync(file, 'utf8'));
  }
  await stop(workers);
  await relabel(d, pg);
  const [local, remote] = [normal(d.local, reports[0]), normal(d.remote, reports[1])];
  assert.equal(remote, local);
  // What the comparison covers: the counts, the failure with its log read from -store, every task.
  assert.match(remote, /<tr><td>upper<\/td><td class="n">3<\/td><td class="n">0<\/td><td class="n">0<\/td><\/tr>/);
  assert.match(remote, /check step check:bad\.txt:[0-9a-f]{8}: <span class="bad">exit code 3<\/span>/);
  assert.match(remote, /<pre>cannot read bad\.txt\n<\/pre>/);
  for (const task of ['upper', 'count', 'total', 'check']) assert.match(remote, new RegExp(`<h3>${task}</h3>`));
  assert.match(reports[1], /db <code>postgres:\/\/postgres@localhost\//);
  assert.doesNotMatch(reports[1], /<td class="n">-<\/td>/, 'CPU and memory were measured on PostgreSQL too');
});

test(
  '-report on PostgreSQL into a directory that does not exist: the run is kept, the error says where',
  { skip },
  async (t) => {
    const w = workspace(t);
    w.write('m.toml', MANIFEST);
    w.write('in/a.txt', 'alpha\n');
    const url = await pg.newDb();
    const db = ['-db', url, '-store', w.path('store')];
    const file = w.path('nowhere/r.html');
    const r = cli(['-manifest', w.path('m.toml'), ...db, '-input', w.path('in'), '-report', file], { env: ENV });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`^task-pipeline: cannot write the report ${file}: ENOENT`, 'm'));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(existsSync(file), false);
    const runs = await pg.query(url, `SELECT exit_code FROM run`);
    assert.deepEqual(runs, [{ exit_code: 0 }]);
  },
);
