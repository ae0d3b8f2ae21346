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
  const r = spawnSync('script', ['-qfec', command, '/dev/null'], {
    encoding: 'utf8',
    env: { ...process.env, COLUMNS: '100' },
  });
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

test('on a pipe, a long run prints one plain progress line per period on stderr; -quiet none', (t) => {
  const ws = setup(t);
  // The period is 10 s; TASK_PIPELINE_PROGRESS_MS shortens it for this test.
  const env = { TASK_PIPELINE_PROGRESS_MS: '300' };
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt'), '-parallel', '1'], { env });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('progress: '));
  assert.ok(lines.length >= 2, r.stderr);
  assert.match(
    lines[0],
    /^progress: split \d+\/1(?: \([^)]*\))?, slow \d+\/\d+(?: \([^)]*\))?; [\d.]+ steps\/s(?:, ETA \d+(?:s|m\d\ds))?, [\d.]+ (?:s|ms)$/,
  );
  assert.doesNotMatch(r.stderr, /\x1b/);
  const q = cli(
    ['-manifest', ws.path('m.toml'), '-db', ws.path('db2'), '-input', ws.path('in.txt'), '-parallel', '1', '-quiet'],
    { env },
  );
  assert.equal(q.stderr, '');
});

test('Ctrl-C on a terminal leaves a clean screen: the message stays, then the summary, no stale progress', async (t) => {
  const ws = setup(t);
  ws.write('m.toml', MANIFEST.replace('sleep 0.05', 'sleep 5'));
  const have = spawnSync('tmux', ['-V'], { encoding: 'utf8' });
  if (have.error) {
    t.skip(`tmux is not available: ${have.error.message}`);
    return;
  }
  const session = `tp-${process.pid}-${Date.now()}`;
  const command = `${process.execPath} ${CLI} -manifest ${ws.path('m.toml')} -db ${ws.db} -input ${ws.path('in.txt')} -parallel 2; echo EXIT=$?; sleep 30`;
  const tmux = (...args) => spawnSync('tmux', ['-L', session, ...args], { encoding: 'utf8' });
  t.after(() => tmux('kill-server'));
  assert.equal(tmux('new-session', '-d', '-x', '100', '-y', '30', '-s', session, command).status, 0);
  const screen = () => tmux('capture-pane', '-p', '-t', session).stdout;
  const until = async (re, what) => {
    for (let i = 0; i < 400; i++) {
      if (re.test(screen())) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}:\n${screen()}`);
  };
  await until(/slow\s+\[[#.]{16}\]/, 'the progress display');
  tmux('send-keys', '-t', session, 'C-c');
  await until(/EXIT=130/, 'the run to end');
  const final = screen();
  assert.match(
    final,
    /task-pipeline: SIGINT: stopping; running steps go back to pending \(Ctrl-C again kills them now\)/,
  );
  assert.match(final, /^interrupted: /m);
  assert.doesNotMatch(final, /\[[#.-]{16}\]/, `no progress bar left on the screen:\n${final}`);
  assert.ok(final.indexOf('SIGINT') < final.indexOf('interrupted:'), final);
});
