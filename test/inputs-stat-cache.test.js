// The stat cache of run inputs (issue 21): a directory given again costs a stat per unchanged
// file, not a read and a hash; any change a stat can show, or a clock tick can hide, is read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import Database from 'better-sqlite3';
import { openDatabase } from '../dist/store/database.js';
import { InputStatCache, RACY_MARGIN_MS, unchangedSince } from '../dist/store/input-cache.js';
import { cli, objectPath, openDb, sha256, workspace } from './helpers.js';
import { HAS_STRACE, settle as settleFiles, tracedRun } from './input-trace.js';

const M = `
[[task]]
name = "count"
inputs = []
script = 'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"'
`;
// A whole second in the past: utimes can put it back exactly (a float of seconds cannot carry every ns).
const OLD = Math.floor(Date.now() / 1000) - 3600;

function setup(t, files) {
  const ws = workspace(t);
  ws.write('m.toml', M);
  for (const [name, text] of Object.entries(files)) ws.write(`in/${name}`, text);
  return ws;
}

const runArgs = (ws, extra = []) => ['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), ...extra];

function run(ws, extra = []) {
  const r = cli(runArgs(ws, extra));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return r.stdout;
}

const settle = (ws, names) => settleFiles(names.map((n) => ws.path('in', n)));
const traced = (ws, extra = []) => tracedRun(runArgs(ws, extra), ws.path('openat.trace'));

function currentHash(ws, name) {
  return JSON.parse(cli(['inputs', '-db', ws.db, '-json']).stdout).find((i) => i.name === name)?.hash;
}

function cacheRow(ws, path) {
  const d = new Database(ws.path('db', 'pipeline.sqlite'), { readonly: true });
  try {
    return d.prepare('SELECT * FROM input_stat WHERE path = ?').safeIntegers(true).get(path);
  } finally {
    d.close();
  }
}

/** Make the cache row of `path` describe the file as it is now (a change no stat could see), recorded at `recordedAt`. */
function doctor(ws, path, recordedAt) {
  const st = statSync(path, { bigint: true });
  const d = new Database(ws.path('db', 'pipeline.sqlite'));
  try {
    d.prepare(
      `UPDATE input_stat SET size = ?, mtime_ns = ?, ctime_ns = ?, ino = ?, dev = ?, recorded_at = coalesce(?, recorded_at)
                WHERE path = ?`,
    ).run(st.size, st.mtimeNs, st.ctimeNs, BigInt.asIntN(64, st.ino), BigInt.asIntN(64, st.dev), recordedAt, path);
  } finally {
    d.close();
  }
}

test(
  'an unchanged file is not read again: the re-run opens only the file that changed',
  { skip: !HAS_STRACE && 'strace is missing' },
  async (t) => {
    const ws = setup(t, { 'a.txt': 'alpha\n', 'b.txt': 'beta\n', 'sub/c.txt': 'gamma\n' });
    await settle(ws, ['a.txt', 'b.txt', 'sub/c.txt']);
    assert.match(run(ws), /^count +3 +/m);
    writeFileSync(ws.path('in', 'b.txt'), 'beta, longer\n');
    const r = traced(ws);
    assert.match(r.stdout, /^count +1 +/m);
    assert.ok(r.opened.has(ws.path('in', 'b.txt')), 'the changed file is read');
    for (const n of ['a.txt', 'sub/c.txt'])
      assert.ok(!r.opened.has(ws.path('in', n)), `${n} was opened:\n${[...r.opened].join('\n')}`);
    assert.equal(currentHash(ws, 'b.txt'), sha256('beta, longer\n'));
    const d = await openDb(ws.db);
    assert.ok(d.pragma('user_version', { simple: true }) >= 4, 'the stat cache came with schema 4');
    d.close();
  },
);

test('an edit that keeps the size and puts the mtime back is noticed: its ctime moved', async (t) => {
  const ws = setup(t, { 'a.txt': 'alpha\n' });
  const a = ws.path('in', 'a.txt');
  utimesSync(a, OLD, OLD);
  await settle(ws, ['a.txt']);
  run(ws);
  const before = statSync(a, { bigint: true });
  // Trusted by the racy rule: recorded well after the file's last change. Only the stat can tell.
  const row = cacheRow(ws, a);
  assert.ok(row.recorded_at * 1_000_000n - row.ctime_ns > BigInt(RACY_MARGIN_MS) * 1_000_000n);
  writeFileSync(a, 'ALPHA\n');
  utimesSync(a, OLD, OLD);
  const after = statSync(a, { bigint: true });
  assert.deepEqual([after.size, after.mtimeNs, after.ino], [before.size, before.mtimeNs, before.ino]);
  assert.notEqual(after.ctimeNs, before.ctimeNs);
  assert.match(run(ws), /^count +1 +/m);
  assert.equal(currentHash(ws, 'a.txt'), sha256('ALPHA\n'));
});

test('a file replaced by another under the same name (renamed over it) is noticed', async (t) => {
  const ws = setup(t, { 'a.txt': 'alpha\n' });
  const a = ws.path('in', 'a.txt');
  utimesSync(a, OLD, OLD);
  await settle(ws, ['a.txt']);
  run(ws);
  const other = ws.write('elsewhere/a.txt', 'omega\n');
  utimesSync(other, OLD, OLD);
  renameSync(other, a);
  assert.match(run(ws), /^count +1 +/m);
  assert.equal(currentHash(ws, 'a.txt'), sha256('omega\n'));
});

test('-rehash reads every file: a cache entry is believed without it, and set right with it', async (t) => {
  const ws = setup(t, { 'a.txt': 'alpha\n', 'b.txt': 'bravo\n' });
  await settle(ws, ['a.txt', 'b.txt']);
  run(ws);
  if (HAS_STRACE) {
    const r = traced(ws, ['-rehash']);
    assert.match(r.stdout, /done: 0 steps run/);
    for (const n of ['a.txt', 'b.txt']) assert.ok(r.opened.has(ws.path('in', n)), `${n} not read`);
  }
  // A lie in the cache (a.txt's row naming b.txt's bytes, of the same size) shows what a stat-only re-run trusts;
  // without the directory's summary, which would skip the directory whole.
  const d = new Database(ws.path('db', 'pipeline.sqlite'));
  d.prepare('UPDATE input_stat SET object_hash = unhex(?) WHERE path = ?').run(
    sha256('bravo\n'),
    ws.path('in', 'a.txt'),
  );
  assert.equal(d.prepare('DELETE FROM input_stat WHERE path = ?').run(`${ws.path('in')}\0`).changes, 1);
  d.close();
  run(ws);
  assert.equal(currentHash(ws, 'a.txt'), sha256('bravo\n'));
  run(ws, ['-rehash']);
  assert.equal(currentHash(ws, 'a.txt'), sha256('alpha\n'));
  assert.equal(cacheRow(ws, ws.path('in', 'a.txt')).object_hash.toString('hex'), sha256('alpha\n'));
});

test('racy: a change in the clock tick of the cached stat is read again, because it was recorded too soon after', async (t) => {
  const ws = setup(t, { 'a.txt': 'alpha\n' });
  const a = ws.path('in', 'a.txt');
  // Written, cached at once, changed within the same second with its mtime put back.
  utimesSync(a, OLD, OLD);
  run(ws);
  writeFileSync(a, 'ALPHA\n');
  utimesSync(a, OLD, OLD);
  // Make the row match the file as it is now, as if the write had landed in the tick of the cached
  // stat (no stat field moved): only the margin between the change and the recording can tell.
  doctor(ws, a, null);
  assert.match(run(ws), /^count +1 +/m);
  assert.equal(currentHash(ws, 'a.txt'), sha256('ALPHA\n'));
  // The control: the same invisible change, in a row recorded well after it, is believed.
  writeFileSync(a, 'alpHA\n');
  utimesSync(a, OLD, OLD);
  const ctimeMs = Number(statSync(a, { bigint: true }).ctimeNs / 1_000_000n);
  doctor(ws, a, ctimeMs + RACY_MARGIN_MS + 1);
  assert.match(run(ws), /done: 0 steps run/);
  assert.equal(currentHash(ws, 'a.txt'), sha256('ALPHA\n'));
});

test('a trusted entry whose object left the store (fsck -repair) does not stand in for it: giving the file again restores it', async (t) => {
  const ws = setup(t, { 'a.txt': 'alpha\n' });
  await settle(ws, ['a.txt']);
  run(ws);
  const obj = objectPath(ws.db, sha256('alpha\n'));
  chmodSync(obj, 0o644);
  writeFileSync(obj, 'alpHa\n');
  assert.equal(cli(['fsck', '-db', ws.db, '-repair']).code, 1);
  run(ws);
  assert.equal(readFileSync(obj, 'utf8'), 'alpha\n');
  const fsck = cli(['fsck', '-db', ws.db]);
  assert.equal(fsck.code, 0, fsck.stdout);
});

test('a trusted entry whose object gc deleted (its input retired, the history dropped) does not stand in for it', async (t) => {
  const ws = setup(t, { 'a.txt': 'alpha\n', 'b.txt': 'bravo\n' });
  await settle(ws, ['a.txt', 'b.txt']);
  run(ws);
  assert.equal(cli(['inputs', 'rm', '-db', ws.db, 'a.txt']).code, 0);
  const gc = cli(['gc', '-db', ws.db, '-history']);
  assert.equal(gc.code, 0, gc.stdout + gc.stderr);
  const obj = objectPath(ws.db, sha256('alpha\n'));
  assert.equal(existsSync(obj), false, 'gc took the object');
  assert.match(run(ws), /^count +1 +/m);
  assert.equal(readFileSync(obj, 'utf8'), 'alpha\n');
  const fsck = cli(['fsck', '-db', ws.db]);
  assert.equal(fsck.code, 0, fsck.stdout);
});

test('the entries of files gone from a directory given again are dropped; the inputs stay current and are named', (t) => {
  const ws = setup(t, { 'a.txt': 'alpha\n', 'b.txt': 'beta\n', 'c.txt': 'gamma\n' });
  run(ws);
  unlinkSync(ws.path('in', 'b.txt'));
  const out = run(ws);
  assert.match(out, /1 current input is no longer in the directories given \("b\.txt"\)/);
  const d = new Database(ws.path('db', 'pipeline.sqlite'), { readonly: true });
  assert.deepEqual(d.prepare('SELECT path FROM input_stat ORDER BY path').pluck().all(), [
    ws.path('in', 'a.txt'),
    ws.path('in', 'c.txt'),
  ]);
  d.close();
  assert.equal(currentHash(ws, 'b.txt'), sha256('beta\n'));
});

test('the rule: every stat field counts, and an entry recorded within the margin of a change is not trusted', async (t) => {
  const now = Date.now();
  // A stat as a plain (non-bigint) statSync gives it: times in ms, with the ns as a fraction.
  const stamp = { size: 6, mtimeMs: now - 10_000.25, ctimeMs: now - 10_000.25, ino: 42, dev: 7 };
  const entry = [0, 6, stamp.mtimeMs, stamp.ctimeMs, 42, 7, sha256('')];
  assert.equal(unchangedSince(entry, stamp), true);
  for (const field of ['size', 'mtimeMs', 'ctimeMs', 'ino', 'dev']) {
    assert.equal(unchangedSince(entry, { ...stamp, [field]: stamp[field] + 1 }), false, field);
  }
  // A quarter of a µs (the resolution of a double in ms today) is a change too.
  assert.equal(unchangedSince(entry, { ...stamp, mtimeMs: stamp.mtimeMs + 0.00025 }), false, 'ns of mtime');

  // The margin is checked by the lookup, exactly, on the ns stored: rows as a run would write them.
  const ws = workspace(t);
  const d = openDatabase(ws.db, { create: true });
  t.after(() => d.close());
  const ns = (ms) => BigInt(ms) * 1_000_000n;
  const edge = ns(now - RACY_MARGIN_MS);
  const rows = {
    settled: [ns(now - 10_000), ns(now - 10_000)],
    'ctime at the margin': [ns(now - 10_000), edge],
    'mtime at the margin': [edge, ns(now - 10_000)],
    'a ns before it': [edge - 1n, edge - 1n],
    'a future mtime': [ns(now + 86_400_000), ns(now - 10_000)],
    'before 1970': [-7_100_000_000n, ns(now - 10_000)],
  };
  const insert = d.prepare('INSERT INTO input_stat VALUES (?, 6, ?, ?, 42, 7, ?, ?)');
  for (const [path, [m, c]] of Object.entries(rows)) insert.run(path, m, c, sha256(''), now);
  // Inode and device numbers at or above 2^63 are stored wrapped, and read back as a plain stat gives them.
  insert.run('a huge inode', ns(now - 10_000), ns(now - 10_000), sha256(''), now);
  d.prepare('UPDATE input_stat SET ino = ? WHERE path = ?').run(BigInt.asIntN(64, 2n ** 64n - 4096n), 'a huge inode');
  const paths = [...Object.keys(rows), 'a huge inode', 'no entry'];
  const found = new InputStatCache(d).lookup(paths).map((e) => paths[e[0]]);
  assert.deepEqual(found, ['settled', 'a ns before it', 'before 1970', 'a huge inode']);
  const huge = new InputStatCache(d).lookup(['a huge inode'])[0];
  assert.equal(huge[4], Number(2n ** 64n - 4096n));
});

test('the times compared are the ones a plain stat gives: the cache computes the same ms from the ns it stores', async (t) => {
  const ws = setup(t, { 'a.txt': 'alpha\n', 'b.txt': 'bravo\n' });
  // Times with ns that a double cannot hold exactly.
  utimesSync(ws.path('in', 'b.txt'), 1_700_000_000.1234, 1_700_000_000.9876);
  await settle(ws, ['a.txt', 'b.txt']);
  run(ws);
  const d = new Database(ws.path('db', 'pipeline.sqlite'), { readonly: true });
  const paths = ['a.txt', 'b.txt'].map((n) => ws.path('in', n));
  const found = new InputStatCache(d).lookup(paths);
  d.close();
  assert.deepEqual(
    found.map((e) => e[0]),
    [0, 1],
  );
  for (const [k, path] of paths.entries()) {
    const st = statSync(path);
    const e = found[k];
    assert.deepEqual(e.slice(1, 6), [st.size, st.mtimeMs, st.ctimeMs, st.ino, st.dev]);
    assert.equal(unchangedSince(e, st), true, path);
  }
});
