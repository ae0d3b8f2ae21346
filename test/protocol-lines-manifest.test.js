// protocol = "lines" in manifests, through the real CLI: the field's checks, and the example manifest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cli, openDb, workspace } from './helpers.js';

async function outputsOf(db, task) {
  const d = await openDb(db);
  try {
    return d
      .prepare(
        `SELECT o.name, lower(hex(o.object_hash)) AS hash FROM step_output o JOIN step s ON s.id = o.step_id
                      JOIN task t ON t.id = s.task WHERE t.name = ? AND s.status = 'done' ORDER BY o.name`,
      )
      .all(task);
  } finally {
    d.close();
  }
}

test('lines: the manifest checks protocol, and refuses stdout with it', (t) => {
  const ws = workspace(t);
  ws.write('a.toml', '[[task]]\nname = "a"\nscript = "true"\nprotocol = "fast"\n');
  const a = cli(['-manifest', ws.path('a.toml'), '-db', ws.db]);
  assert.equal(a.code, 2);
  assert.match(
    a.stderr,
    /a\.toml:4: task "a": field "protocol": must be "oneshot" \(a process per step, the default\) or "lines" \(one long-lived process fed a JSON line per step\), got string "fast"/,
  );
  ws.write('b.toml', '[[task]]\nname = "b"\nscript = "true"\nprotocol = "lines"\nstdout = "out.txt"\n');
  const b = cli(['-manifest', ws.path('b.toml'), '-db', ws.db]);
  assert.equal(b.code, 2);
  assert.match(
    b.stderr,
    /b\.toml:5: task "b": field "stdout": cannot be used with protocol = "lines": the process's stdout carries its replies/,
  );
  assert.doesNotMatch(a.stderr + b.stderr, /at .*\.js:\d+/);
  assert.deepEqual(readdirSync(ws.dir).sort(), ['a.toml', 'b.toml'], 'no db was made');
});

test('lines: the example manifest runs, and its outputs are what the corpus says', async (t) => {
  const ws = workspace(t);
  const root = ROOT;
  const r = cli(
    ['-manifest', join(root, 'manifests', 'lines.toml'), '-db', ws.db, '-input', join(root, 'manifests', 'corpus')],
    { cwd: root },
  );
  assert.equal(r.code, 0, r.stderr);
  const totals = await outputsOf(ws.db, 'total');
  assert.deepEqual(
    totals.map((o) => o.name),
    ['top.tsv'],
  );
  const top = cli(['cat', '-db', ws.db, totals[0].hash]).stdout.trim().split('\n');
  assert.equal(top.length, 10);
  for (const line of top) assert.match(line, /^[a-z']+\t\d+$/);
});
