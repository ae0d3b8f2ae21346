// A db written before every attempt was recorded (schema 4, made by that engine and kept as a
// fixture) is migrated by the next run: each step that had finished gets one attempt row, its
// latest, from what the step row held; the runs after it add theirs. Inspection never migrates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, openDb, sha256, workspace, ROOT } from './helpers.js';
import { SCHEMA_VERSION } from '../dist/store/schema.js';

// The fixture: task "check" (retries = 1) over ok.txt (done at once), twice.txt (failed, then done
// by its retry: 2 attempts) and bad.txt (failed twice: exit 3, "not fixed yet"); the run exited 1.
// The script lets bad.txt through once a file `fixed` is beside the manifest.
test('a schema-4 db: finished steps get their latest attempt, the next run adds its own', async (t) => {
  const ws = workspace(t, 'tp-migrate-');
  execFileSync('tar', ['-xzf', join(ROOT, 'test/fixtures/schema4-db.tar.gz'), '-C', ws.dir]);
  const file = ws.path('db', 'pipeline.sqlite');
  const before = await openDb(ws.db);
  assert.equal(before.pragma('user_version', { simple: true }), 4);
  const steps = Object.fromEntries(before.prepare('SELECT input_name, id FROM step').raw().all());
  const rowsBefore = before
    .prepare('SELECT id, status, attempts, exit_code, error, log_hash FROM step ORDER BY id' /* hex text: schema 4 */)
    .all();
  before.close();

  // log reads, never migrates: it asks for a run first, and the file is left as it was.
  const bytes = readFileSync(file);
  const early = cli(['log', '-db', ws.db, String(steps['bad.txt'])]);
  assert.equal(early.code, 2);
  assert.match(
    early.stderr,
    /^task-pipeline: .*schema version 4 is older than this engine's \d+: run the manifest once/,
  );
  assert.ok(readFileSync(file).equals(bytes), 'log left the db file as it was');

  writeFileSync(ws.path('fixed'), '');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-quiet']);
  assert.equal(r.code, 0, r.stdout + r.stderr);

  const after = await openDb(ws.db);
  assert.equal(after.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  const attempts = (id) =>
    after
      .prepare(
        `SELECT attempt, run_id AS run, status, exit_code AS code, error, timed_out AS t,
      cpu_user_ms AS cpu, max_rss_kb AS rss FROM attempt WHERE step_id = ? ORDER BY attempt`,
      )
      .all(id);
  assert.deepEqual(attempts(steps['ok.txt']), [
    { attempt: 1, run: 1, status: 'done', code: 0, error: null, t: 0, cpu: null, rss: null },
  ]);
  assert.deepEqual(attempts(steps['twice.txt']), [
    { attempt: 2, run: 1, status: 'done', code: 0, error: null, t: 0, cpu: null, rss: null },
  ]);
  // Migrated rows were never measured; the new run's attempt is, where the C helper ran it (null under execa).
  const [migrated, fresh] = attempts(steps['bad.txt']);
  assert.deepEqual(migrated, {
    attempt: 2,
    run: 1,
    status: 'failed',
    code: 3,
    error: 'exit code 3',
    t: 0,
    cpu: null,
    rss: null,
  });
  assert.deepEqual(
    { ...fresh, cpu: null, rss: null },
    { attempt: 3, run: 2, status: 'done', code: 0, error: null, t: 0, cpu: null, rss: null },
  );
  for (const v of [fresh.cpu, fresh.rss]) assert.ok(v === null || Number.isInteger(v), String(v));
  // The migrated row holds what the step row held.
  const bad = rowsBefore.find((s) => s.id === steps['bad.txt']);
  assert.equal(
    after.prepare('SELECT lower(hex(log_hash)) FROM attempt WHERE step_id = ? AND attempt = 2').pluck().get(bad.id),
    bad.log_hash,
  );
  after.close();

  const log = cli(['log', '-db', ws.db, String(steps['bad.txt'])]);
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, /^attempts: +3$/m);
  assert.match(log.stdout, /^ +2 +1 +\S+ +\S+ m?s +not measured +not measured +exit code 3$/m);
  assert.match(log.stdout, /^ +3 +2 +\S+ +\S+ m?s +(?:not measured +not measured|\S+ m?s \+ \S+ m?s +\S+ \S+) +ok$/m);
  assert.match(log.stdout, /^\(attempt 1 was not recorded: it ran before this db kept every attempt\)$/m);
  const earlier = cli(['log', '-db', ws.db, String(steps['bad.txt']), '-attempt', '2']);
  assert.ok(earlier.stdout.startsWith('not fixed yet\n'), earlier.stdout);
  assert.match(earlier.stdout, new RegExp(`^log: +${sha256('not fixed yet\n')} `, 'm'));
  const gone = cli(['log', '-db', ws.db, String(steps['bad.txt']), '-attempt', '1']);
  assert.equal(gone.code, 2);
  assert.equal(
    gone.stderr,
    `task-pipeline: log: attempt 1 of step ${steps['bad.txt']} was not recorded: ` +
      'it ran before this db kept every attempt (recorded: 2, 3)\n',
  );

  assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
  assert.match(cli(['-manifest', ws.path('m.toml'), '-db', ws.db]).stdout, /done: 0 steps run/);
});
