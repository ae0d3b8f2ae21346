// fsck finds damage by re-hashing; gc deletes what nothing references, and nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ROOT, cli, listObjects, objectPath, openDb, sha256, workspace } from './helpers.js';

const CHAIN = `
[[task]]
name = "split"
script = 'split -l 1 "$INPUT_FILE" "$OUTPUT_DIR/line-"'

[[task]]
name = "upper"
script = 'tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/up"; echo "did $INPUT_NAME"'
`;

function chainDb(t) {
  const ws = workspace(t, 'tp-inspect-');
  ws.write('m.toml', CHAIN);
  ws.write('in.txt', 'alpha\nbeta\n');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt'), '-quiet']);
  assert.equal(r.code, 0, r.stderr);
  return ws;
}

/** A valid-looking object (right name, right bytes, read-only) that no row mentions. */
function strayObject(db, text) {
  const hash = sha256(text);
  const path = objectPath(db, hash);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode: 0o444 });
  return hash;
}

test('fsck of an intact db exits 0 with a one-line summary', (t) => {
  const ws = chainDb(t);
  const r = cli(['fsck', '-db', ws.db]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(
    r.stdout,
    `fsck: ${listObjects(ws.db).length} objects checked (${r.stdout.match(/\((.*)\)/)[1]}): 0 corrupt, 0 missing, 0 stray; ok\n`,
  );
});

test('fsck reports a tampered object, a deleted one and a stray file, and exits 1', (t) => {
  const ws = chainDb(t);
  const tampered = sha256('ALPHA\n');
  chmodSync(objectPath(ws.db, tampered), 0o644);
  writeFileSync(objectPath(ws.db, tampered), 'ALPHA!\n');
  const deleted = sha256('BETA\n');
  unlinkSync(objectPath(ws.db, deleted));
  writeFileSync(join(ws.db, 'objects', 'README'), 'not an object\n');
  const r = cli(['fsck', '-db', ws.db]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`^corrupt +${tampered}: its 7 bytes hash to ${sha256('ALPHA!\n')}`, 'm'));
  assert.match(r.stdout, new RegExp(`^missing +${deleted}: no file at .*; named by object row, step output$`, 'm'));
  assert.match(r.stdout, /^stray +.*objects\/README: not in a shard directory$/m);
  assert.match(r.stdout, new RegExp(`^writable +${tampered}`, 'm'));
  assert.match(r.stdout, /\n?fsck: \d+ objects checked \(.*\): 1 corrupt, 1 missing, 1 stray, 1 writable\n$/);
});

test('gc deletes an object file and row nobody references, keeps every referenced one; fsck is clean after', async (t) => {
  const ws = chainDb(t);
  const before = listObjects(ws.db)
    .map((o) => o.hash)
    .sort();
  const stray = strayObject(ws.db, 'nobody wants me\n');
  // An orphan row too: registered, unreferenced (a crash between the object row and its step).
  const orphan = strayObject(ws.db, 'orphan row\n');
  const { default: Database } = await import('better-sqlite3');
  const d = new Database(join(ws.db, 'pipeline.sqlite'));
  d.prepare(`INSERT INTO object(hash, size, created_at) VALUES (unhex(?), ?, 0)`).run(orphan, 11);
  d.close();

  const dry = cli(['gc', '-db', ws.db, '-dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`^would delete ${stray}  16 B$`, 'm'));
  assert.match(dry.stdout, new RegExp(`^would delete ${orphan}  11 B$`, 'm'));
  assert.match(dry.stdout, /gc: would delete 2 object files \(27 B\) and 1 object row\ngc: would free \d.* on disk\n/);
  // What the db directory takes, measured by the walk (two small files take two blocks at least).
  assert.match(
    dry.stdout,
    /\ndisk: \S+ \S+: objects \S+ \S+, \d+ shard directories \S+ \S+, SQLite \S+ \S+; gc -history would free \d+ objects? .*\n$/,
  );
  assert.ok(existsSync(objectPath(ws.db, stray)) && existsSync(objectPath(ws.db, orphan)));

  const r = cli(['gc', '-db', ws.db]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^deleted ${stray}  16 B$`, 'm'));
  assert.match(r.stdout, /gc: deleted 2 object files \(27 B\) and 1 object row\ngc: freed \d.* on disk\n$/);
  assert.deepEqual(
    listObjects(ws.db)
      .map((o) => o.hash)
      .sort(),
    before,
  );
  // Its now-empty shard directories went with it.
  assert.ok(!existsSync(dirname(objectPath(ws.db, stray))));
  const db = await openDb(ws.db);
  assert.equal(
    db.prepare(`SELECT count(*) FROM object WHERE hash IN (unhex(?), unhex(?))`).pluck().get(stray, orphan),
    0,
  );
  db.close();

  assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
  assert.equal(cli(['cat', '-db', ws.db, sha256('BETA\n')]).stdout, 'BETA\n');
  const again = cli(['gc', '-db', ws.db]);
  assert.match(again.stdout, /^gc: deleted 0 object files \(0 B\) and 0 object rows\ngc: freed 0 B on disk\n$/);
});

test('gc keeps the objects of old task versions and of logs: history is referenced', (t) => {
  const ws = chainDb(t);
  ws.write('m.toml', CHAIN.replace('tr a-z A-Z', 'tr a-z A-Z | rev'));
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-quiet']).code, 0);
  const before = listObjects(ws.db).length;
  const r = cli(['gc', '-db', ws.db]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^gc: deleted 0 object files/);
  assert.equal(listObjects(ws.db).length, before);
  assert.ok(existsSync(objectPath(ws.db, sha256('ALPHA\n'))), 'the old version output is kept');
  assert.ok(existsSync(objectPath(ws.db, sha256('did line-aa\n'))), 'a log is kept');
});

test('gc refuses to run beside a live engine: exit 2 naming its pid, nothing deleted', (t) => {
  const ws = chainDb(t);
  const stray = strayObject(ws.db, 'nobody wants me\n');
  // This test process is alive: the lock is held, not stale.
  writeFileSync(join(ws.db, 'lock'), `${process.pid}\n`);
  t.after(() => rmSync(join(ws.db, 'lock'), { force: true }));
  const r = cli(['gc', '-db', ws.db]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`held by running process ${process.pid}`));
  assert.ok(existsSync(objectPath(ws.db, stray)));
  // A stale lock (its pid is gone) is taken over.
  writeFileSync(join(ws.db, 'lock'), '999999999\n');
  assert.equal(cli(['gc', '-db', ws.db]).code, 0);
  assert.ok(!existsSync(objectPath(ws.db, stray)));
  assert.ok(!existsSync(join(ws.db, 'lock')), 'gc releases the lock');
});

test('gc finds the steps of an input hash through UNIQUE(task, object_hash): none of its statements scans step', async (t) => {
  const ws = chainDb(t);
  const { GC_SQL } = await import('../dist/store/inspect/collect-garbage.js');
  const { default: Database } = await import('better-sqlite3');
  const d = new Database(join(ws.db, 'pipeline.sqlite'));
  t.after(() => d.close());
  d.exec(GC_SQL.setup);
  // As gc runs its deletes: its own NOT EXISTS checks stand in for SQLite's foreign-key check.
  d.pragma('foreign_keys = OFF');
  for (const [key, args] of [
    ['unreferenced', []],
    ['deleteRow', [{ hash: 'x' }]],
  ]) {
    const plan = d
      .prepare(`EXPLAIN QUERY PLAN ${GC_SQL[key]}`)
      .all(...args)
      .map((r) => r.detail);
    assert.ok(!plan.some((l) => /^SCAN step( |$)/.test(l)), `${key} scans step:\n${plan.join('\n')}`);
    assert.ok(
      plan.some((l) =>
        /SEARCH step USING COVERING INDEX sqlite_autoindex_step_1 \(task=\? AND object_hash=\?\)/.test(l),
      ),
      `${key}:\n${plan.join('\n')}`,
    );
  }
});

test('a db of schema 1 is refused by show and brought forward by a run: idx_step_object dropped, show and gc still find the steps of an input', async (t) => {
  // A real schema-2 db (made by that engine) with schema 1's index back: what schema 1 was.
  const ws = workspace(t, 'tp-inspect-');
  execFileSync('tar', ['-xzf', join(ROOT, 'test/fixtures/schema2-db.tar.gz'), '-C', ws.dir]);
  const { default: Database } = await import('better-sqlite3');
  const old = new Database(join(ws.db, 'pipeline.sqlite'));
  old.exec('CREATE INDEX idx_step_object ON step(object_hash)');
  old.pragma('user_version = 1');
  old.close();
  const input = sha256('1\n2\n3\n4\n5\n');
  // Only a run migrates: an inspection command says so in one line and writes nothing.
  const refused = cli(['show', '-db', ws.db, input]);
  assert.equal(refused.code, 2);
  assert.match(
    refused.stderr,
    /^task-pipeline: \S+: schema version 1 is older than this engine's \d+: run the manifest once .*: a run migrates it\n$/,
  );
  const run = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-quiet']);
  assert.equal(run.code, 0, run.stderr);
  const show = cli(['show', '-db', ws.db, input]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /consumed by: 1 step\n.*\n +\d+ +count /);
  const { SCHEMA_VERSION } = await import('../dist/store/schema.js');
  const d = await openDb(ws.db);
  assert.equal(d.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal(d.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'idx_step_object'`).pluck().get(), 0);
  d.close();
  const stray = strayObject(ws.db, 'nobody wants me either\n');
  const gc = cli(['gc', '-db', ws.db]);
  assert.equal(gc.code, 0, gc.stderr);
  assert.match(gc.stdout, new RegExp(`^deleted ${stray}  `, 'm'));
  assert.match(gc.stdout, /gc: deleted 1 object file /);
  assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
});
