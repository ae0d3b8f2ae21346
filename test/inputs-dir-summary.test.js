// A big directory given again (issue 21): the directory summed up as it is walked, so that a re-run
// of an unchanged one skips its files' entries and run inputs whole. Every
// change still shows: an edit, a file added or removed, the name taken over by another -input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { RACY_MARGIN_MS } from '../dist/store/input-cache.js';
import { CLI, cli, sha256, workspace } from './helpers.js';

// A task that consumes the root, run alone (-task): the run ingests its inputs and runs no script.
const M = `
[[task]]
name = "count"
inputs = []
script = 'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"'

[[task]]
name = "total"
gather = true
script = 'cat "$INPUT_DIR"/* > "$OUTPUT_DIR/all"'
`;
const HAS_STRACE = spawnSync('sh', ['-c', 'command -v strace']).status === 0;
// More than one batch of ingest (4,096 files).
const FILES = 4200;
const name = (i) => `f${String(i).padStart(5, '0')}.txt`;

async function setup(t) {
  const ws = workspace(t);
  ws.write('m.toml', M);
  for (let i = 0; i < FILES; i++) ws.write(`in/${name(i)}`, `file ${i}\n`);
  // Older than the racy margin when the first run stats them: the summary it records is usable.
  await sleep(RACY_MARGIN_MS + 100);
  return ws;
}

const args = (ws, extra) => [
  '-manifest',
  ws.path('m.toml'),
  '-db',
  ws.db,
  '-input',
  ws.path('in'),
  '-task',
  'total',
  ...extra,
];

function run(ws, extra = []) {
  const r = cli(args(ws, extra));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return r.stdout;
}

/** The input files the run opened (strace), by name. */
function opened(ws, extra = []) {
  const trace = ws.path('openat.trace');
  const r = spawnSync(
    'strace',
    ['-f', '-qq', '-e', 'trace=open,openat', '-o', trace, process.execPath, CLI, ...args(ws, extra)],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const prefix = `${ws.path('in')}/`;
  const names = [...readFileSync(trace, 'utf8').matchAll(/open(?:at)?\((?:AT_FDCWD, )?"([^"]*)"/g)]
    .map((m) => m[1])
    .filter((p) => p.startsWith(prefix))
    .map((p) => p.slice(prefix.length));
  return { stdout: r.stdout, names: [...new Set(names)].sort() };
}

function summaryRow(ws) {
  const d = new Database(ws.path('db', 'pipeline.sqlite'), { readonly: true });
  try {
    return d.prepare('SELECT size, object_hash FROM input_stat WHERE path = ?').get(`${ws.path('in')}\0`);
  } finally {
    d.close();
  }
}

function current(ws) {
  return new Map(JSON.parse(cli(['inputs', '-db', ws.db, '-json']).stdout).map((i) => [i.name, i.hash]));
}

test(
  'a big directory given again unchanged: summed up, no file read; an edit, an added and a removed file still show',
  { skip: !HAS_STRACE && 'strace is missing' },
  async (t) => {
    const ws = await setup(t);
    assert.match(run(ws), new RegExp(`${FILES} new inputs`));
    assert.equal(summaryRow(ws).size, FILES);
    const again = opened(ws);
    assert.deepEqual(again.names, []);
    assert.match(again.stdout, /0 objects added/);

    // An edit keeping the size: the file is read, and replaces its input.
    writeFileSync(ws.path('in', name(5)), 'FILE 5\n');
    const edited = opened(ws);
    assert.deepEqual(edited.names, [name(5)]);
    assert.match(edited.stdout, /1 input replaced/);
    assert.equal(current(ws).get(name(5)), sha256('FILE 5\n'));

    writeFileSync(ws.path('in', 'new.txt'), 'new\n');
    unlinkSync(ws.path('in', name(9)));
    const changed = opened(ws);
    // The edited file is read once more if the run before read it within the racy margin of the edit.
    assert.deepEqual(
      changed.names.filter((n) => n !== name(5)),
      ['new.txt'],
    );
    assert.match(changed.stdout, /1 new input/);
    assert.match(changed.stdout, /1 current input is no longer in the directories given \("f00009\.txt"\)/);
    // With a current input the walk lacks, no summary: each run names it again.
    assert.equal(summaryRow(ws), undefined);
    assert.match(run(ws), /1 current input is no longer in the directories given/);
  },
);

test('a name another -input took over is given back by the directory, summary or not', async (t) => {
  const ws = await setup(t);
  run(ws);
  run(ws);
  assert.ok(summaryRow(ws), 'summed up');
  const other = ws.write(`elsewhere/${name(3)}`, 'other bytes\n');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', other, '-task', 'total']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(current(ws).get(name(3)), sha256('other bytes\n'));
  assert.match(run(ws), /1 input replaced/);
  assert.equal(current(ws).get(name(3)), sha256('file 3\n'));
});

/** What the latest run says of its -input directories: files looked up one by one, and files read. */
function lastRunInputs(ws) {
  const d = new Database(ws.path('db', 'pipeline.sqlite'), { readonly: true });
  try {
    const s = JSON.parse(d.prepare('SELECT summary FROM run ORDER BY id DESC LIMIT 1').pluck().get());
    return { lookedUp: s.inputsLookedUp, read: s.inputsRead };
  } finally {
    d.close();
  }
}

test('files added to a summed-up directory are looked for in the chunks they land in, not in the whole directory', async (t) => {
  const ws = await setup(t);
  run(ws);
  // The first run read every file; the second finds them settled and sums the directory up.
  assert.deepEqual(lastRunInputs(ws), { lookedUp: 0, read: FILES });
  run(ws);
  assert.ok(summaryRow(ws), 'summed up');

  // Two new files and an edit that keeps the size, in the same run.
  writeFileSync(ws.path('in', 'new-a.txt'), 'new a\n');
  writeFileSync(ws.path('in', 'new-b.txt'), 'new b\n');
  writeFileSync(ws.path('in', name(7)), 'FILE 7\n');
  const out = run(ws);
  assert.match(out, /2 new inputs/);
  assert.match(out, /1 input replaced/);
  const c = lastRunInputs(ws);
  assert.equal(c.read, 3);
  // Three chunks of 16 files on average: a few hundred at most, never the 4,200.
  assert.ok(c.lookedUp >= 3 && c.lookedUp < FILES / 4, `looked up ${c.lookedUp} of ${FILES + 2} files`);
  const now = current(ws);
  assert.equal(now.get('new-a.txt'), sha256('new a\n'));
  assert.equal(now.get(name(7)), sha256('FILE 7\n'));
  assert.equal(now.get(name(8)), sha256('file 8\n'));
  assert.equal(now.size, FILES + 2);

  // A run input of the directory retired: its summary no longer holds, every file is looked up.
  await sleep(RACY_MARGIN_MS + 100);
  run(ws);
  const rm = cli(['inputs', 'rm', '-db', ws.db, name(11)]);
  assert.equal(rm.code, 0, rm.stdout + rm.stderr);
  writeFileSync(ws.path('in', 'new-c.txt'), 'new c\n');
  const back = run(ws);
  assert.match(back, /2 new inputs/);
  assert.deepEqual(lastRunInputs(ws), { lookedUp: FILES + 3, read: 1 });
  assert.equal(current(ws).get(name(11)), sha256('file 11\n'));
});

test('a directory given after one inside it: each keeps its own summary, and neither run fails', async (t) => {
  const ws = workspace(t);
  ws.write('m.toml', M);
  for (let i = 0; i < 40; i++) ws.write(`in/sub/s${i}.txt`, `sub ${i}\n`);
  for (let i = 0; i < 40; i++) ws.write(`in/t${i}.txt`, `top ${i}\n`);
  await sleep(RACY_MARGIN_MS + 100);
  const give = (dir) => {
    const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path(dir), '-task', 'total']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return r.stdout;
  };
  give('in/sub');
  give('in/sub');
  // The parent's walk met files the stat cache holds beside the summary of in/sub: only files are compared.
  assert.match(give('in'), /80 new inputs/);
  unlinkSync(ws.path('in', 't3.txt'));
  assert.match(give('in'), /1 current input is no longer in the directories given/);
  assert.match(give('in/sub'), /0 objects added/);
});
