import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, workspace } from './helpers.js';
import { postgresMissing } from './pg-cluster.js';

// `npm run bench` itself, at toy sizes: every benchmark runs the real engine and its peers, checks
// that they produced the same outputs, and prints its table and ratios. No time is asserted.
test('the bench runs B1-B9 and B1PG with their peers and prints a table and an engine/peer ratio for each', (t) => {
  const missing = ['make', 'openssl', 'xargs'].filter(
    (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0,
  );
  if (missing.length > 0) {
    t.skip(`the bench's peers need ${missing.join(', ')}`);
    return;
  }
  const ws = workspace(t);
  const out = ws.path('results.md');
  const r = spawnSync(
    process.execPath,
    [
      join(ROOT, 'bench', 'run.js'),
      '--n',
      '20',
      '--big-mib',
      '1',
      '--pending',
      '50',
      '--b4-seconds',
      '1',
      '--b5-steps',
      '8',
      '--b5-workers',
      '1,2',
      '--b6-steps',
      '6',
      '--b7-files',
      '30',
      '--b9-inputs',
      '20',
      '--repeat',
      '1',
      '--out',
      out,
    ],
    { cwd: ROOT, encoding: 'utf8', timeout: 600_000 },
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const md = readFileSync(out, 'utf8');
  for (const section of ['## B1', '## B2', '## B3', '## B4', '## B6', '## B7', '## B8', '## B9', '## Targets'])
    assert.ok(md.includes(section), section);
  assert.match(md, /^\| engine \(spawner\) \/ \| [\d.]+x \| .*[\d.]+x \|$/m, 'B1: the engine against xargs, and make');
  assert.match(md, /^\| B1 ratio \(median\/median\) \| xargs -P \d+ \|.* make -j\d+ -r \|$/m);
  assert.match(
    md,
    /^\| B2 ratio .*\n.*\n\| engine \(spawner\) \/ \| [\d.]+x \|$/m,
    'B2: the engine against cp + openssl + mv',
  );
  assert.match(md, /^\| engine re-run \/ \| [\d.]+x \|$/m, 'B3: the no-op re-run against make');
  assert.match(
    md,
    /^\| engine \(spawner\) \| cold \| 50 \| \d+ \(\d+\) \|/m,
    'B4: time to the first step of 50 pending',
  );
  assert.match(
    md,
    /^- Speed-up of `protocol = "lines"` over one-shot with a 0\.3 s start-up: [\d.]+x\.$/m,
    'B6: lines against one-shot',
  );
  assert.match(
    md,
    /^- Per step: lines \(Python, no start-up\) [\d.]+ ms against one-shot `tr` [\d.]+ ms \([\d.]+x\)\.$/m,
    'B6: the protocol per step',
  );
  assert.ok(md.indexOf('## B6') < md.indexOf('## B7'), 'B6 before B7');
  // B5 needs PostgreSQL (initdb, pg_ctl): without it the bench says it skipped B5.
  if (postgresMissing() === null) {
    assert.match(
      md,
      /^\| 2 \| [\d.]+ \| [\d.]+ \| [\d.]+x \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$/m,
      'B5: 2 workers against 1, and against the same scripts under xargs',
    );
    assert.ok(md.indexOf('## B5') < md.indexOf('## B6'), 'B5 before B6');
    assert.match(md, /^\| PostgreSQL, the run alone \| [\d.]+ \|.* [\d.]+x \|$/m, 'B1PG: PostgreSQL against SQLite');
  } else assert.match(r.stdout, /B5 skipped: it needs PostgreSQL/);
  assert.match(md, /^\| engine no-op re-run \/ \| [\d.]+x \|$/m, 'B7: the no-op re-run with -input against make');
  assert.match(md, /^\| engine re-run, 100 files added \/ \| [\d.]+x \|$/m, 'B7: 100 files added, against make');
  assert.match(
    md,
    /^Per step, the first run: [\d.]+ ms; .* \([\d.]+x; target at most 1\.0x\); a first run again, into a new db, right after it: [\d.]+ ms \(the re-run [\d.]+x that\)\.$/m,
    "B7: the edit's re-run per step, against the first run and a first run right after it",
  );
  assert.ok(md.indexOf('## B7') < md.indexOf('## Targets'), 'B7 before the targets');
  assert.match(
    md,
    /^\| engine \(spawner\) \/ \| [\d.]+x \| [\d.]+ \|$/m,
    'B8: the engine against cp + wc + openssl, and the db against input + copy',
  );
  assert.ok(md.indexOf('## B8') < md.indexOf('## Targets'), 'B8 before the targets');
  // B9: 20 inputs through two tasks: 40 steps, 61 objects, the engine's peak RSS (its own, and with its
  // scripts), SQLite bytes per step, the db against plain files.
  assert.match(
    md,
    /^\| 20 \| 40 \| 61 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| \d+ \| \d+ \| \d+ \|( [\d.]+ \|){6}$/m,
    'B9: the footprint row',
  );
  assert.match(md, /Measured .* on \d+ cores/, 'the machine');
  // At toy size the cold start usually runs everything, and then the warm one is reported as skipped,
  // not waited on; on a loaded machine some steps are still pending for it, and it runs them.
  assert.match(r.stdout, /warm: (?:nothing left pending|\d+ pending, first step after \d+ ms)/);
  for (const d of ['b1', 'b5', 'b6', 'b7', 'b8', 'b9'])
    assert.equal(existsSync(join(ROOT, 'bench', 'work', d)), false, `${d}: the run trees are removed at the end`);
});
