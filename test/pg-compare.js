// The same pipeline run on a local db and on PostgreSQL (with two workers), and how to compare a
// command's answers on both: shared by the PostgreSQL inspection tests.
import assert from 'node:assert/strict';
import { cli, cliSpawn, exited, openDb, workspace } from './helpers.js';

export const ENV = { TASK_PIPELINE_LEASE_MS: '1500', TASK_PIPELINE_POLL_MS: '50' };

/** Each item's bytes counted, then the counts summed (a gather): after any task that names its outputs. */
export const COUNT_TOTAL = `
[[task]]
name = "count"
script = 'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME.n"'

[[task]]
name = "total"
gather = true
script = 'cat "$INPUT_DIR"/* | awk "{s+=\\$1} END {print s}" > "$OUTPUT_DIR/total"'
`;

export const MANIFEST = `
[[task]]
name = "upper"
script = '''
echo "upper of $INPUT_NAME"
tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME"
'''

${COUNT_TOTAL}
[[task]]
name = "check"
inputs = ["upper"]
script = '''
case "$INPUT_NAME" in bad*) echo "cannot read $INPUT_NAME" >&2; exit 3;; esac
cp "$INPUT_FILE" "$OUTPUT_DIR/ok"
'''
`;

/**
 * The same runs on a local db and on PostgreSQL (with two workers): a first run with one failing
 * input, then b.txt given again with other bytes. Each side: how to call the CLI on it, and its step
 * labels (task, item, input hash), which stand in for step ids, assigned in another order there.
 */
export async function twoDbs(t, pg) {
  const w = workspace(t);
  w.write('m.toml', MANIFEST);
  w.write('in/a.txt', 'alpha\n');
  w.write('in/b.txt', 'beta\n');
  w.write('in/bad.txt', 'never read\n');
  // Z before a in bytes (SQLite's order), after it in a language's: the lists must still agree.
  w.write('in/Zed.txt', 'zed\n');
  const url = await languageOrderedDb(pg);
  const store = w.path('store');
  const workers = [1, 2].map(() => worker(t, url, store));
  const local = { args: ['-db', w.db], dir: w.db };
  const remote = { args: ['-db', url, '-store', store], dir: store, url };
  // Two runs, each failing on bad.txt (check); the second one after b.txt changed. The workers help
  // with both: a step a worker finishes for the second run counts in the second run's summary, even
  // if the worker claimed it before it had read the new run's id.
  for (const round of [1, 2]) {
    if (round === 2) w.write('in/b.txt', 'beta, edited\n');
    for (const side of [local, remote]) {
      const r = cli(['-manifest', w.path('m.toml'), ...side.args, '-input', w.path('in'), '-quiet'], { env: ENV });
      assert.equal(r.code, 1, `round ${round}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /check step \d+: exit code 3/);
    }
  }
  await stop(workers);
  for (const side of [local, remote]) side.run = (args) => cli([...args, ...side.args], { env: ENV });
  const d = { w, local, remote, url, store };
  await relabel(d, pg);
  return d;
}

/** Each side's step labels (task, item, input hash) as the db holds them now: again after another run. */
export async function relabel(d, pg) {
  const sqlite = await openDb(d.w.db);
  d.local.labels = labels(
    sqlite
      .prepare(
        `SELECT s.id, t.name, s.input_name AS item, lower(hex(s.object_hash)) AS hash FROM step s JOIN task t ON t.id = s.task`,
      )
      .all(),
  );
  sqlite.close();
  d.remote.labels = labels(
    await pg.query(
      d.url,
      `SELECT s.id, t.name, s.input_name AS item, encode(s.object_hash, 'hex') AS hash FROM step s JOIN task t ON t.id = s.task`,
    ),
  );
}

let icu = 0;

/** A database whose text sorts in en-US order (ICU), not bytewise: the commands' lists must not follow it. */
async function languageOrderedDb(pg) {
  const name = `icu${++icu}`;
  await pg.query(
    pg.url('postgres'),
    `CREATE DATABASE ${name} LOCALE_PROVIDER icu ICU_LOCALE 'en-US' TEMPLATE template0`,
  );
  const order = await pg.query(pg.url(name), `SELECT x FROM (VALUES ('Z'), ('a')) v(x) ORDER BY x`);
  assert.deepEqual(
    order.map((r) => r.x),
    ['a', 'Z'],
  );
  return pg.url(name);
}

export function worker(t, url, store) {
  const child = cliSpawn(['worker', '-db', url, '-store', store, '-parallel', '2'], { env: ENV });
  t.after(() => child.kill('SIGKILL'));
  return { child, done: exited(child) };
}

export async function stop(workers) {
  for (const w of workers) w.child.kill('SIGTERM');
  for (const w of workers) assert.equal((await w.done).code, 0);
}

function labels(rows) {
  return new Map(rows.map((r) => [Number(r.id), `${r.name}:${r.item}:${r.hash.slice(0, 8)}`]));
}

const TIMES = new Set([
  'createdAt',
  'startedAt',
  'finishedAt',
  'endedAt',
  'cpuUserMs',
  'cpuSysMs',
  'maxRssKb',
  'durationMs',
  'retiredAt',
]);

/** A JSON answer with step ids as labels, times dropped and the object directory as DIR. */
export function normalJson(side, text) {
  const walk = (v, key) => {
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(
        Object.entries(v)
          .filter(([k]) => !TIMES.has(k))
          .map(([k, x]) => [k, walk(x, k)]),
      );
    if (key === 'stepId') return side.labels.get(v) ?? `unknown ${v}`;
    if (typeof v === 'string') return v.split(side.dir).join('DIR');
    return v;
  };
  return walk(JSON.parse(text));
}

/** A text answer with `step N` and table rows' leading ids as labels, the object directory as DIR, spaces squeezed. */
export function normalText(side, text) {
  const label = (id) => side.labels.get(Number(id)) ?? `unknown ${id}`;
  return text
    .split(side.dir)
    .join('DIR')
    .replace(/step (\d+)/g, (_m, id) => `step ${label(id)}`)
    .replace(/^( +)(\d+)(?= )/gm, (_m, pad, id) => `${pad}${label(id)}`)
    .replace(/[ \t]+/g, ' ');
}

export function both(d, args, { json = false, code = 0 } = {}) {
  const out = [d.local, d.remote].map((side) => {
    const r = side.run(args);
    assert.equal(r.code, code, `${args.join(' ')} on ${side === d.local ? 'SQLite' : 'PostgreSQL'}: ${r.stderr}`);
    return json ? normalJson(side, r.stdout) : normalText(side, r.stdout);
  });
  assert.deepEqual(out[1], out[0], args.join(' '));
  return out[0];
}

export function hashOf(d, task, name) {
  const r = d.local.run(['ls', '-task', task, '-json']);
  return JSON.parse(r.stdout).find((o) => o.name === name).hash;
}

// Each input split in two parts, each part counted, the counts summed: a tree of 3N + 1 steps whose
// parts share their split step (drawn once, then "shown above").
export const TREE = `
[[task]]
name = "split"
script = 'cp "$INPUT_FILE" "$OUTPUT_DIR/$INPUT_NAME.1"; tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME.2"'

${COUNT_TOTAL}`;

/** `manifest` run once on a local db and once on PostgreSQL over the same `n` inputs, as twoDbs gives them. */
export async function oneRunEach(t, pg, manifest, n) {
  const w = workspace(t);
  w.write('m.toml', manifest);
  // Two inputs hold the same bytes: their parts are equal objects under other names.
  for (let i = 0; i < n; i++) w.write(`in/f${String(i).padStart(3, '0')}.txt`, `line ${i % (n - 1)}\n`);
  const url = await pg.newDb();
  const store = w.path('store');
  const d = {
    w,
    url,
    store,
    local: { args: ['-db', w.db], dir: w.db },
    remote: { args: ['-db', url, '-store', store], dir: store },
  };
  for (const side of [d.local, d.remote]) {
    const r = cli(['-manifest', w.path('m.toml'), ...side.args, '-input', w.path('in'), '-quiet'], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    side.run = (args) => cli([...args, ...side.args], { env: ENV });
  }
  await relabel(d, pg);
  return d;
}
