// A directory given again is listed, with its files' stats, by the C helper (src/engine/list-dir.ts,
// src/executor/native/list-dir.c) instead of a stat per file from Node: the same files, in the same
// order, with the same stats as the engine's own walk, whatever the directory holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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
const listed = (dir) => {
  const listing = listDir(dir);
  assert.ok(listing, `the helper listed ${dir}`);
  return [...walkListed(dir, listing)].map(({ file, stamp }) => [
    file.path,
    file.name,
    file.source,
    stamp === undefined ? stampOf(file.path) : stamp,
  ]);
};

test('the helper lists the files the walk finds, in its order, with the stats it would take', { skip }, (t) => {
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
  assert.deepEqual(listed(dir), expected);
});

test('a directory of more than 10,000 entries: the directory order, as the walk takes it', { skip }, (t) => {
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
  assert.deepEqual(listed(dir), expected);
});

test('what the helper cannot list is left to the walk: a missing directory, a file', { skip }, (t) => {
  const ws = workspace(t);
  assert.equal(listDir(ws.path('missing')), null);
  assert.equal(listDir(ws.write('a-file', 'x\n')), null);
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
