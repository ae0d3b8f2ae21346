// A db written by the engine before names were part of identity (schema 2, made by that engine
// and kept as a fixture) is migrated in place: history kept, old steps keep their names, and the
// first run after it gives the right answers without re-running what was done.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { cli, openDb, sha256, workspace, ROOT } from './helpers.js';
import { SCHEMA_VERSION } from '../dist/store/schema.js';

// The fixture: count (wc -l) over a.txt (3 lines, then edited to 5), b.txt (4), c.txt and d.txt
// (2 each, equal bytes), web1.err and web2.err (empty, equal bytes); a gather sums the counts. That
// engine answered 14: a.txt's old and new bytes both current, c/d and web1/web2 merged. Right: 13.
test('a schema-2 db is migrated: replaced inputs become history, equal bytes under two names get their own steps', async (t) => {
  const ws = workspace(t);
  execFileSync('tar', ['-xzf', join(ROOT, 'test/fixtures/schema2-db.tar.gz'), '-C', ws.dir]);
  const before = await openDb(ws.db);
  assert.equal(before.pragma('user_version', { simple: true }), 2);
  const oldSteps = before.prepare('SELECT id, task, object_hash, input_name, status FROM step ORDER BY id').all();
  before.close();

  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // Only the items the old identity had merged away run now: d.txt and web2.err.
  assert.match(r.stdout, /^count +2 +/m);
  const total = JSON.parse(cli(['ls', '-db', ws.db, '-task', 'sum', '-json']).stdout);
  assert.equal(cli(['cat', '-db', ws.db, total[0].hash]).stdout, '13\n');
  const counts = JSON.parse(cli(['ls', '-db', ws.db, '-task', 'count', '-json']).stdout);
  assert.deepEqual(counts.map((o) => [o.from, o.hash]).sort(), [
    ['a.txt', sha256('5\n')],
    ['b.txt', sha256('4\n')],
    ['c.txt', sha256('2\n')],
    ['d.txt', sha256('2\n')],
    ['web1.err', sha256('0\n')],
    ['web2.err', sha256('0\n')],
  ]);
  const inputs = JSON.parse(cli(['inputs', '-db', ws.db, '-all', '-json']).stdout);
  assert.deepEqual(
    inputs.filter((i) => i.name === 'a.txt').map((i) => [i.hash, i.current, i.retired]),
    [
      [sha256('1\n2\n3\n4\n5\n'), true, null],
      [sha256('1\n2\n3\n'), false, 'replaced'],
    ],
  );

  const after = await openDb(ws.db);
  assert.equal(after.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  // Every old step is still there under the name it ran under, with its status.
  const kept = after
    .prepare(
      'SELECT id, task, lower(hex(object_hash)) AS object_hash, input_name, status FROM step WHERE id <= ? ORDER BY id',
    )
    .all(oldSteps.at(-1).id);
  assert.deepEqual(kept, oldSteps);
  after.close();
  const fsck = cli(['fsck', '-db', ws.db]);
  assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
  // A second run has nothing to do.
  assert.match(cli(['-manifest', ws.path('m.toml'), '-db', ws.db]).stdout, /done: 0 steps run/);
});
