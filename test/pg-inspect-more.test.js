// The inspection commands that came to PostgreSQL last (status -all, ls -all), each compared with
// SQLite's answer on the same pipeline, and the errors a user can meet there.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cli } from './helpers.js';
import { both, ENV, MANIFEST, normalJson, relabel, twoDbs } from './pg-compare.js';
import { postgresMissing, startPostgres } from './pg-cluster.js';

const missing = postgresMissing();
if (missing) console.log(`# skipped: ${missing}`);
const pg = missing ? null : await startPostgres(after);
const skip = missing ?? false;

/** twoDbs, then a third run on both with `count` edited: its first version becomes history. */
async function withHistory(t) {
  const d = await twoDbs(t, pg);
  d.w.write('m.toml', MANIFEST.replace('wc -c < "$INPUT_FILE"', 'wc -l < "$INPUT_FILE"'));
  for (const side of [d.local, d.remote]) {
    const r = cli(['-manifest', d.w.path('m.toml'), ...side.args, '-quiet'], { env: ENV });
    assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
  }
  await relabel(d, pg);
  return d;
}

/**
 * status as text, what both engines must agree on: the task rows without the cpu and peak RSS
 * columns (measured anew by every run), the "new version" lines, the run line without its time.
 * The disk line and PostgreSQL's leases are the engine's own.
 */
function statusText(text) {
  const lines = text.split('\n');
  // Columns are aligned: the cpu column starts where its header does, in every row.
  const cut = / cpu /.test(lines[0]) ? lines[0].indexOf(' cpu ') : Infinity;
  const out = [];
  for (const line of lines) {
    if (line.startsWith('disk: ') || line.startsWith('lease ') || line === 'no workers yet') break;
    if (line.startsWith('  new version') || line === '') out.push(line);
    else if (line.startsWith('latest run ')) out.push(line.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/, 'T'));
    else out.push(line.slice(0, cut).trim().replace(/\s+/g, ' '));
  }
  return out.join('\n');
}

const MEASURED = new Set(['cpuMs', 'cpuUserMs', 'cpuSysMs', 'maxRssKb', 'startedAt', 'finishedAt']);

/** status -json without what each run measures anew, the disk (the engine's own) and the leases. */
function statusJson(text) {
  const { disk: _disk, leases: _leases, ...s } = JSON.parse(text);
  // Task ids too: PostgreSQL's sequence moves on when two processes register the same version.
  const drop = (o) => Object.fromEntries(Object.entries(o).filter(([k]) => !MEASURED.has(k) && k !== 'taskId'));
  return { ...s, latestRun: drop(s.latestRun), tasks: s.tasks.map(drop) };
}

test('status -all and ls -all answer the same on PostgreSQL as on SQLite, history included', { skip }, async (t) => {
  const d = await withHistory(t);
  for (const args of [['status'], ['status', '-all']]) {
    const [local, remote] = [d.local, d.remote].map((side) => {
      const r = side.run(args);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    });
    assert.equal(statusText(remote), statusText(local), args.join(' '));
    const json = [d.local, d.remote].map((side) => statusJson(side.run([...args, '-json']).stdout));
    assert.deepEqual(json[1], json[0], `${args.join(' ')} -json`);
    // PostgreSQL adds its processes: the run's coordinator, and the two workers of the first runs.
    assert.match(remote, /^ +\d+ +worker +\S+ +\d+ +ended +2 /m);
    assert.match(remote, /^disk: .*shard directories/m);
    assert.doesNotMatch(remote, /SQLite/);
  }
  const all = statusText(d.remote.run(['status', '-all']).stdout);
  // count's first version is listed, marked old, with its steps; the current one says what changed.
  assert.match(all, /^count \S+ old 0 0 [1-9]\d* 0 0 0 [1-9]/m);
  assert.match(all, /^ {2}new version \(was \S+\): script$/m);
  assert.match(statusText(d.remote.run(['status']).stdout), /history hidden/);
  // ls -all: the outputs of both versions of count, as text and as JSON (step ids as labels).
  const listed = both(d, ['ls', '-task', 'count', '-all']);
  assert.equal(listed.split('\n').filter((l) => l.startsWith('a.txt.n ')).length, 2);
  const json = [d.local, d.remote].map((side) =>
    normalJson(side, side.run(['ls', '-task', 'count', '-all', '-json']).stdout).map((o) => ({
      ...o,
      step: side.labels.get(o.step),
    })),
  );
  assert.deepEqual(json[1], json[0]);
  // Without -store, status on PostgreSQL has no disk line (its metadata's disk is the server's).
  const noStore = cli(['status', '-all', '-db', d.url]);
  assert.equal(noStore.code, 0, noStore.stderr);
  assert.doesNotMatch(noStore.stdout, /^disk:/m);
  assert.equal(JSON.parse(cli(['status', '-json', '-db', d.url]).stdout).disk, null);
  const unknown = cli(['ls', '-all', '-task', 'cont', '-db', d.url]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^task-pipeline: no task "cont" in postgres:\/\/\S+ \(did you mean "count"\?\)\n$/);
});

test('status -all and ls -all on an empty PostgreSQL db say to run a manifest first', { skip }, async () => {
  const empty = await pg.newDb();
  for (const args of [
    ['status', '-all'],
    ['ls', '-all', '-task', 'count'],
  ]) {
    const r = cli([...args, '-db', empty]);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(
      r.stderr,
      /^task-pipeline: .*no pipeline db here; run a manifest with -db postgres:\/\/\S+ -store DIR first\n$/,
    );
  }
});
