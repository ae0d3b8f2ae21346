// export: outputs as files under their names, hard-linked, never outside -out, never over other files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { cli, objectPath, sha256, workspace } from './helpers.js';
import { safeRelativePath } from '../dist/store/inspect/safe-name.js';
import { planExport } from '../dist/store/inspect/export-plan.js';

// Two inputs, two steps: each leaves a nested file of its own name, a same-named file with its own bytes,
// a same-named file with equal bytes, and a name made of dots that is still inside OUTPUT_DIR. A name
// both steps left goes under the item each came from (FROM/NAME), whatever the bytes.
const EMIT = `
[[task]]
name = "emit"
script = '''
mkdir -p "$OUTPUT_DIR/nested/deep"
cp "$INPUT_FILE" "$OUTPUT_DIR/nested/deep/$INPUT_NAME"
echo "from $INPUT_NAME" > "$OUTPUT_DIR/same.txt"
echo constant > "$OUTPUT_DIR/const.txt"
echo dots > "$OUTPUT_DIR/nested/..x"
'''
`;

function emitDb(t) {
  const ws = workspace(t, 'tp-inspect-');
  ws.write('m.toml', EMIT);
  ws.write('in/one.txt', 'one\n');
  ws.write('in/two.txt', 'two\n');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-quiet']);
  assert.equal(r.code, 0, r.stderr);
  return ws;
}

/** Every path under dir, relative, sorted. */
function tree(dir, prefix = '') {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => {
      const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
      return e.isDirectory() ? [`${rel}/`, ...tree(join(dir, e.name), rel)] : [rel];
    })
    .sort();
}

test('export -link materialises nested names as directories, hard-linked to the store, and warns', (t) => {
  const ws = emitDb(t);
  const out = ws.path('out');
  const r = cli(['export', '-db', ws.db, '-task', 'emit', '-out', out, '-link']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(tree(out), [
    'nested/',
    'nested/deep/',
    'nested/deep/one.txt',
    'nested/deep/two.txt',
    'one.txt/',
    'one.txt/const.txt',
    'one.txt/nested/',
    'one.txt/nested/..x',
    'one.txt/same.txt',
    'two.txt/',
    'two.txt/const.txt',
    'two.txt/nested/',
    'two.txt/nested/..x',
    'two.txt/same.txt',
  ]);
  assert.equal(readFileSync(join(out, 'nested/deep/two.txt'), 'utf8'), 'two\n');
  assert.equal(readFileSync(join(out, 'one.txt/same.txt'), 'utf8'), 'from one.txt\n');
  assert.equal(readFileSync(join(out, 'two.txt/same.txt'), 'utf8'), 'from two.txt\n');
  // A hard link: the very inode of the read-only object.
  const linked = statSync(join(out, 'one.txt/const.txt'));
  assert.equal(linked.ino, statSync(objectPath(ws.db, sha256('constant\n'))).ino);
  assert.equal(linked.mode & 0o777, 0o444);
  assert.match(
    r.stdout,
    /6 outputs share a name with outputs of other steps: each written under the item it came from, as FROM\/NAME \(e\.g\. one\.txt\/const\.txt\)/,
  );
  assert.match(r.stdout, /exported 8 files of task emit to .* \(8 linked, 0 copied, 0 already there\)/);
  assert.equal(
    r.stderr,
    "task-pipeline: export -link: the files are the store's own objects; editing one in place edits the store (copy it first)\n",
  );
});

test('export copies by default: editing an exported file leaves the store intact; a corrupt object is refused', async (t) => {
  const ws = emitDb(t);
  const out = ws.path('out');
  const r = cli(['export', '-db', ws.db, '-task', 'emit', '-out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\(0 linked, 8 copied, 0 already there\)/);
  assert.equal(r.stderr, '');
  const copy = join(out, 'one.txt/const.txt');
  assert.notEqual(statSync(copy).ino, statSync(objectPath(ws.db, sha256('constant\n'))).ino);
  writeFileSync(copy, 'edited\n');
  assert.equal(readFileSync(objectPath(ws.db, sha256('constant\n')), 'utf8'), 'constant\n');
  assert.equal(cli(['fsck', '-db', ws.db]).code, 0);

  // Damage an object in the store (as root, read-only does not stop a write): export checks what it copies.
  const { chmodSync } = await import('node:fs');
  const damaged = objectPath(ws.db, sha256('one\n'));
  chmodSync(damaged, 0o644);
  writeFileSync(damaged, 'oNe\n');
  const bad = cli(['export', '-db', ws.db, '-task', 'emit', '-out', ws.path('out2')]);
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    new RegExp(
      `^task-pipeline: export: corrupt object ${sha256('one\n')} \\(its bytes hash to ${sha256('oNe\n')}\\): run task-pipeline fsck -repair\n$`,
    ),
  );
  assert.equal(existsSync(ws.path('out2/nested/deep/one.txt')), false);
});

test('export again into the same directory keeps identical files and writes nothing new', (t) => {
  const ws = emitDb(t);
  const out = ws.path('out');
  const first = cli(['export', '-db', ws.db, '-task', 'emit', '-out', out]);
  assert.equal(first.code, 0, first.stderr);
  const again = cli(['export', '-db', ws.db, '-task', 'emit', '-out', out]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /\(0 linked, 0 copied, 8 already there\)/);
  assert.match(first.stdout, /\(0 linked, 8 copied, 0 already there\)/);
  // A plain copy with the same bytes is as good as the link.
  const other = ws.path('other');
  mkdirSync(join(other, 'one.txt'), { recursive: true });
  writeFileSync(join(other, 'one.txt/const.txt'), 'constant\n');
  const r = cli(['export', '-db', ws.db, '-task', 'emit', '-out', other]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\(0 linked, 7 copied, 1 already there\)/);
});

test('export -link across filesystems copies (a hard link cannot cross them), read-only like the store', (t) => {
  const ws = emitDb(t);
  const shm = '/dev/shm';
  if (!existsSync(shm) || statSync(shm).dev === statSync(ws.dir).dev) {
    t.skip('no second filesystem at /dev/shm');
    return;
  }
  const out = mkdtempSync(join(shm, 'tp-export-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const r = cli(['export', '-db', ws.db, '-task', 'emit', '-out', out, '-link']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\(0 linked, 8 copied, 0 already there\)/);
  assert.equal(readFileSync(join(out, 'nested/deep/one.txt'), 'utf8'), 'one\n');
  assert.equal(statSync(join(out, 'one.txt/const.txt')).mode & 0o777, 0o444);
});

test('export refuses, writing nothing, when a different file or a symlink is in the way', (t) => {
  const ws = emitDb(t);
  const out = ws.path('out');
  mkdirSync(join(out, 'one.txt'), { recursive: true });
  writeFileSync(join(out, 'one.txt/const.txt'), 'my own notes\n');
  const r = cli(['export', '-db', ws.db, '-task', 'emit', '-out', out]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /export refused, nothing written/);
  assert.match(r.stderr, /const\.txt exists with other content/);
  assert.deepEqual(tree(out), ['one.txt/', 'one.txt/const.txt']);
  assert.equal(readFileSync(join(out, 'one.txt/const.txt'), 'utf8'), 'my own notes\n');

  // A symlinked directory would lead the writes elsewhere.
  const elsewhere = ws.path('elsewhere');
  mkdirSync(elsewhere);
  const out2 = ws.path('out2');
  mkdirSync(out2);
  symlinkSync(elsewhere, join(out2, 'nested'));
  const s = cli(['export', '-db', ws.db, '-task', 'emit', '-out', out2]);
  assert.equal(s.code, 2);
  assert.match(s.stderr, /nested is a symlink where a directory is needed/);
  assert.deepEqual(readdirSync(elsewhere), []);
  assert.deepEqual(tree(out2), ['nested']);

  writeFileSync(ws.path('file'), 'x');
  const f = cli(['export', '-db', ws.db, '-task', 'emit', '-out', ws.path('file')]);
  assert.equal(f.code, 2);
  assert.match(f.stderr, /-out .*file exists and is not a directory/);
});

test('hostile names held in the db stay inside -out, and export says it renamed them', async (t) => {
  const ws = emitDb(t);
  const { default: Database } = await import('better-sqlite3');
  const d = new Database(ws.path('db', 'pipeline.sqlite'));
  // No script can leave such names, but the db is data: a hand-edited or foreign db may hold anything.
  // One step's const.txt only: the other keeps the name, which only it holds then.
  d.prepare(
    `UPDATE step_output SET name = '../escape.txt' WHERE name = 'const.txt' AND step_id = (SELECT min(step_id) FROM step_output)`,
  ).run();
  d.prepare(`UPDATE step_output SET name = '/abs/evil.txt' WHERE name = 'nested/deep/one.txt'`).run();
  d.prepare(`UPDATE step_output SET name = 'nested/../../../up.txt' WHERE name = 'nested/deep/two.txt'`).run();
  d.close();
  const out = ws.path('sub', 'out');
  const r = cli(['export', '-db', ws.db, '-task', 'emit', '-out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(ws.path('sub', 'escape.txt')) && !existsSync(ws.path('escape.txt')));
  assert.ok(!existsSync('/abs/evil.txt'));
  assert.ok(!existsSync(ws.path('up.txt')) && !existsSync(ws.path('sub', 'up.txt')));
  assert.deepEqual(readdirSync(ws.path('sub')), ['out']);
  assert.equal(readFileSync(join(out, 'escape.txt'), 'utf8'), 'constant\n');
  assert.equal(readFileSync(join(out, 'abs/evil.txt'), 'utf8'), 'one\n');
  assert.equal(readFileSync(join(out, 'nested/up.txt'), 'utf8'), 'two\n');
  assert.match(r.stdout, /escape\.txt: name "\.\.\/escape\.txt" would leave the directory; written as escape\.txt/);
  assert.match(r.stdout, /abs\/evil\.txt: name "\/abs\/evil\.txt" would leave the directory/);
});

test('the name sanitiser keeps every name a plain relative path', () => {
  const cases = {
    'a/b.txt': 'a/b.txt',
    '../x': 'x',
    '../../etc/passwd': 'etc/passwd',
    '/etc/passwd': 'etc/passwd',
    'a/../../b': 'a/b',
    './a//b/./c': 'a/b/c',
    '..x': '..x',
    'a/..x/..': 'a/..x',
    '..': 'unnamed',
    '': 'unnamed',
    '/': 'unnamed',
    'nul\0byte': 'nul_byte',
  };
  for (const [name, path] of Object.entries(cases)) {
    const s = safeRelativePath(name);
    assert.equal(s.path, path, JSON.stringify(name));
    assert.equal(s.changed, path !== name, JSON.stringify(name));
    assert.ok(!s.path.startsWith('/') && !s.path.split('/').includes('..'), JSON.stringify(name));
  }
});

test('the export plan puts names several steps left under FROM, and keeps files off paths needed as directories', () => {
  const h = (c) => c.repeat(64);
  const plan = planExport([
    { name: 'a', hash: h('1'), size: 1, from: 'in1', step: 1 },
    { name: 'a/b', hash: h('2'), size: 1, from: 'in2', step: 2 },
    { name: 'x', hash: h('3'), size: 1, from: 'in3', step: 3 },
    { name: 'x', hash: h('3'), size: 1, from: '', step: 4 },
    { name: '../y', hash: h('5'), size: 1, from: 'in5', step: 5 },
    { name: 'y', hash: h('5'), size: 1, from: 'in6', step: 6 },
    { name: 'z', hash: h('7'), size: 1, from: 'p', step: 7 },
    { name: 'z', hash: h('8'), size: 1, from: 'p', step: 8 },
  ]);
  assert.deepEqual(
    plan.map((e) => [e.path, e.renamed, e.merged]),
    [
      ['a~11111111', 'duplicate', false],
      ['a/b', null, false],
      ['in3/x', 'shared', false],
      ['_/x', 'shared', false],
      ['y', 'sanitised', false],
      ['y', null, true],
      // Two steps over items of one name (bytes from two upstream tasks): the second is told apart by its hash.
      ['p/z', 'shared', false],
      ['p/z~88888888', 'duplicate', false],
    ],
  );
});
