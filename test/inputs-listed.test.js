// A directory given again is listed, with its files' stats, by the C helper (src/engine/list-dir.ts,
// src/executor/native/list-dir.c) instead of a stat per file from Node: the same files, in the same
// order, with the same stats as the engine's own walk, whatever the directory holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { walkFiles, walkListed } from '../dist/engine/input-walk.js';
import { listDir } from '../dist/engine/list-dir.js';
import { helperUsable } from '../dist/executor/spawner-protocol.js';
import { plainStamp } from '../dist/store/input-cache.js';
import { CLI, cli, workspace } from './helpers.js';
import { HAS_STRACE, settle } from './input-trace.js';

const skip = helperUsable() ? false : 'the C helper was not built';

const stampOf = (path) => {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? plainStamp(st) : null;
};
const walked = (dir) => [...walkFiles(dir, '', dir)].map((f) => [f.path, f.name, f.source, stampOf(f.path)]);
const listed = async (dir) => {
  const listing = await listDir(dir);
  assert.ok(listing, `the helper listed ${dir}`);
  const out = [];
  for await (const batch of walkListed(dir, listing))
    for (const { file, stamp } of batch)
      out.push([file.path, file.name, file.source, stamp === undefined ? stampOf(file.path) : stamp]);
  return out;
};

test('the helper lists the files the walk finds, in its order, with the stats it would take', { skip }, async (t) => {
  const ws = workspace(t);
  const dir = ws.path('in');
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'a.txt'), 'a\n');
  writeFileSync(join(dir, 'b c.txt'), 'with a space\n');
  writeFileSync(join(dir, 'ünï €.txt'), 'not ascii\n');
  writeFileSync(join(dir, 'empty'), '');
  writeFileSync(join(dir, 'locked'), 'mode 000\n');
  chmodSync(join(dir, 'locked'), 0o000);
  writeFileSync(join(dir, 'sub', 'x.txt'), 'x\n');
  writeFileSync(join(dir, 'sub', 'deeper', 'y'), 'y\n');
  symlinkSync('a.txt', join(dir, 'link-to-file'));
  symlinkSync('sub', join(dir, 'link-to-dir'));
  symlinkSync('nowhere', join(dir, 'dangling'));
  assert.equal(spawnSync('mkfifo', [join(dir, 'fifo')]).status, 0);
  const expected = walked(dir);
  assert.deepEqual(
    expected.map(([, name]) => name),
    ['a.txt', 'b c.txt', 'empty', 'link-to-file', 'locked', 'sub/deeper/y', 'sub/x.txt', 'ünï €.txt'],
  );
  assert.deepEqual(await listed(dir), expected);
});

test('a directory of more than 10,000 entries: the directory order, as the walk takes it', { skip }, async (t) => {
  const ws = workspace(t);
  const dir = ws.path('big');
  mkdirSync(join(dir, 'a-subdir'), { recursive: true });
  writeFileSync(join(dir, 'a-subdir', 'inner'), 'inner\n');
  for (let i = 0; i < 10_050; i++) writeFileSync(join(dir, `f${i}`), `${i}\n`);
  const expected = walked(dir);
  assert.equal(expected.length, 10_051);
  // Not sorted: a directory this big is walked in the order the filesystem lists it.
  assert.notDeepEqual(
    expected.map(([, name]) => name),
    expected.map(([, name]) => name).sort(),
  );
  assert.deepEqual(await listed(dir), expected);
});

test('what the helper cannot list is left to the walk: a missing directory, a file', { skip }, async (t) => {
  const ws = workspace(t);
  assert.equal(await listDir(ws.path('missing')), null);
  assert.equal(await listDir(ws.write('a-file', 'x\n')), null);
});

test('an empty directory is listed empty; a directory of subdirectories only, as the walk', { skip }, async (t) => {
  const ws = workspace(t);
  mkdirSync(ws.path('empty'));
  const listing = await listDir(ws.path('empty'));
  assert.ok(listing, 'an empty directory is listed, not left to the walk');
  assert.deepEqual(await listed(ws.path('empty')), []);
  ws.write('only-dirs/a/x', 'x\n');
  ws.write('only-dirs/b/y', 'y\n');
  mkdirSync(ws.path('only-dirs', 'c'));
  assert.deepEqual(await listed(ws.path('only-dirs')), walked(ws.path('only-dirs')));
});

/** The helper processes this test process has running now. */
const helpersRunning = () =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map((p) => {
      try {
        return readFileSync(`/proc/${p}/stat`, 'utf8');
      } catch {
        return '';
      }
    })
    // pid (comm) state ppid ...: comm is cut at 15 characters.
    .filter((st) => st.includes('(task-pipeline-s)') && st.split(') ')[1]?.split(' ')[1] === String(process.pid));

test('a listing cut short throws; a walk stopped early stops the helper', { skip }, async (t) => {
  const ws = workspace(t);
  const dir = ws.path('many');
  mkdirSync(dir);
  // ~2 MB of listing: far more than a pipe holds, so the helper is still writing after the first batch.
  for (let i = 0; i < 30_000; i++) writeFileSync(join(dir, `file-with-a-longer-name-${i}`), '');
  const listing = await listDir(dir);
  const first = await listing.next();
  assert.ok(first.value.length > 0);
  const [helper] = helpersRunning();
  assert.ok(helper, 'the helper is still running after the first batch');
  process.kill(Number(helper.split(' ')[0]), 'SIGKILL');
  await assert.rejects(
    async () => {
      for await (const batch of listing) assert.ok(batch.length > 0);
    },
    { message: `the C helper's listing of ${dir} ended early (SIGKILL)` },
  );

  // A name the check refuses, met while the helper is still listing: the helper is stopped.
  writeFileSync(join(dir, 'a\ttab'), '');
  const again = await listDir(dir);
  await assert.rejects(async () => {
    for await (const batch of walkListed(dir, again)) assert.ok(batch.length > 0);
  }, /a name with a tab or newline cannot be an input/);
  for (let i = 0; i < 100 && helpersRunning().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(helpersRunning(), []);
});

test(
  'a re-run over a summed-up directory leaves its stats to the helper: the engine stats none of its files itself',
  { skip: skip || (!HAS_STRACE && 'strace is not installed') },
  async (t) => {
    const ws = workspace(t);
    const m = ws.write(
      'm.toml',
      '[[task]]\nname = "n"\ninputs = []\nscript = \'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"\'\n',
    );
    const names = Array.from({ length: 20 }, (_, i) => `f${String(i).padStart(2, '0')}.txt`);
    for (const n of names) ws.write(`in/${n}`, `${n}\n`);
    await settle(names.map((n) => ws.path('in', n)));
    const args = ['-manifest', m, '-db', ws.db, '-input', ws.path('in'), '-quiet', '-parallel', '2'];
    assert.equal(cli(args).code, 0);
    ws.write('in/new.txt', 'new\n');
    const trace = ws.path('trace');
    const r = spawnSync(
      'strace',
      ['-f', '-qq', '-e', 'trace=stat,statx,newfstatat,lstat', '-o', trace, process.execPath, CLI, ...args],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const lines = readFileSync(trace, 'utf8').split('\n');
    // The helper stats the files by name, relative to the directory; Node would by their whole path.
    assert.deepEqual(
      lines.filter((l) => /\/in\/f\d\d\.txt"/.test(l)),
      [],
    );
    assert.ok(
      lines.some((l) => /newfstatat\(\d+, "f00\.txt"/.test(l)),
      "the helper stat'ed f00.txt",
    );
    const inputs = cli(['inputs', '-db', ws.db, '-json']);
    assert.equal(inputs.code, 0, inputs.stderr);
    assert.equal(JSON.parse(inputs.stdout).length, 21, inputs.stdout);
  },
);
