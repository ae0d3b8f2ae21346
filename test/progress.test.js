import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CLI, cli, workspace } from './helpers.js';

const MANIFEST = `
[[task]]
name = "split"
script = 'split -l 1 "$INPUT_FILE" "$OUTPUT_DIR/l-"'

[[task]]
name = "slow"
script = 'sleep 0.05; cp "$INPUT_FILE" "$OUTPUT_DIR/x"'
`;

function setup(t) {
  const ws = workspace(t);
  ws.write('m.toml', MANIFEST);
  ws.write('in.txt', `${Array.from({ length: 40 }, (_, i) => `line ${i}`).join('\n')}\n`);
  return ws;
}

test('on a terminal, progress is drawn in place: per task done/total, and rate and ETA', (t) => {
  const ws = setup(t);
  const command = `${process.execPath} ${CLI} -manifest ${ws.path('m.toml')} -db ${ws.db} -input ${ws.path('in.txt')} -parallel 2`;
  // util-linux script(1) runs the command under a pseudo-terminal and copies what it draws.
  const r = spawnSync('script', ['-qfec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '100' } });
  if (r.error) {
    t.skip(`script(1) is not available: ${r.error.message}`);
    return;
  }
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /slow\s+\[[#.]{16}\]\s+\d+\/40/, 'a line per task with done/total');
  assert.match(r.stdout, /steps run, [\d.]+ steps\/s/, 'a rate');
  assert.match(r.stdout, /\x1b\[\d+A/, 'redrawn in place');
  // Steps queued ahead in the executor are not counted as running: only scripts that started.
  const running = [...r.stdout.matchAll(/(\d+) running/g)].map((m) => Number(m[1]));
  assert.ok(running.length > 0, 'a running count');
  assert.ok(Math.max(...running) <= 2, `running counts ${running}: at most -parallel`);
  assert.match(r.stdout, /done: 41 steps run/, 'then the summary');
});

test('on a pipe, and with -quiet, no escape code and no progress', (t) => {
  const ws = setup(t);
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt')]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /\x1b/);
  assert.doesNotMatch(r.stderr, /steps\/s/);
  assert.match(r.stdout, /done: 41 steps run/);
  const q = cli(['-manifest', ws.path('m.toml'), '-db', ws.path('db2'), '-input', ws.path('in.txt'), '-quiet']);
  assert.equal(q.code, 0, q.stderr);
  assert.equal(q.stdout, '');
  assert.equal(q.stderr, '');
});
