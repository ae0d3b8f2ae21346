import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { cli, cliSpawn, exited, isAlive, isEmptyDir, openDb, waitFor, workspace } from './helpers.js';
import { existsSync, readFileSync } from 'node:fs';

const one = (body, extra = '') => `[[task]]\nname = "t"\n${extra}\nscript = '''\n${body}\n'''\n`;

async function stepRows(db) {
  const d = await openDb(db);
  const rows = d.prepare(`SELECT id, status, attempts, exit_code, error FROM step ORDER BY id`).all();
  d.close();
  return rows;
}

test('the db lock: a second run on a busy db exits 2 at once naming the pid; a stale lock is taken over', async (t) => {
  const ws = workspace(t);
  ws.write('m.toml', one('touch "$STARTED"; sleep "${SLEEP:-30}"; echo > "$OUTPUT_DIR/x"'));
  const env = { STARTED: ws.path('started') };
  const first = cliSpawn(['-manifest', ws.path('m.toml'), '-db', ws.db], { env });
  const firstDone = exited(first);
  await waitFor(() => existsSync(ws.path('started')), 20_000, 'the first run to start its script');
  const t0 = Date.now();
  const second = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env });
  assert.equal(second.code, 2);
  assert.match(second.stderr, new RegExp(`held by running process ${first.pid}`));
  assert.ok(Date.now() - t0 < 5000, 'refused at once');
  first.kill('SIGINT');
  assert.equal((await firstDone).code, 130);
  assert.equal(existsSync(ws.path('db', 'lock')), false, 'the lock is released on exit');

  // A lock left by a dead process (pid of a process that has exited) is stale.
  const dead = cliSpawn(['--version']);
  await exited(dead);
  writeFileSync(ws.path('db', 'lock'), `${dead.pid}\n`);
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env: { ...env, SLEEP: '0' } });
  assert.equal(r.code, 0, r.stderr);
});

test('timeout kills the process group and fails the step saying so', async (t) => {
  const ws = workspace(t);
  ws.write('m.toml', one('sleep 60 & echo $! > "$PIDFILE"; wait', 'timeout = 0.5'));
  const t0 = Date.now();
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env: { PIDFILE: ws.path('pid') } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /timed out after 0\.5s/);
  assert.ok(Date.now() - t0 < 20_000);
  const pid = Number(readFileSync(ws.path('pid'), 'utf8'));
  assert.equal(isAlive(pid), false, 'the background child was killed too');
  const [row] = await stepRows(ws.db);
  assert.equal(row.status, 'failed');
  assert.match(row.error, /timed out/);
});

test('retries re-run a failed step within the run, with backoff, and keep the count', async (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    one('echo try >> "$RUNS"; [ "$(wc -l < "$RUNS")" -ge 3 ] || exit 4; echo ok > "$OUTPUT_DIR/x"', 'retries = 2'),
  );
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env: { RUNS: ws.path('runs') } });
  assert.equal(r.code, 0, r.stderr);
  const [row] = await stepRows(ws.db);
  assert.equal(row.status, 'done');
  assert.equal(row.attempts, 3);

  const ws2 = workspace(t);
  ws2.write('m.toml', one('echo try >> "$RUNS"; exit 4', 'retries = 1'));
  const r2 = cli(['-manifest', ws2.path('m.toml'), '-db', ws2.db], { env: { RUNS: ws2.path('runs') } });
  assert.equal(r2.code, 1);
  assert.equal(ws2.read('runs').trim().split('\n').length, 2, 'one try and one retry');
});

for (const [what, body, message] of [
  ['a FIFO', 'mkfifo "$OUTPUT_DIR/pipe"', /OUTPUT_DIR holds a FIFO "pipe"/],
  [
    'a socket',
    `python3 -c 'import socket,os; s=socket.socket(socket.AF_UNIX); s.bind(os.environ["OUTPUT_DIR"]+"/sock")'`,
    /OUTPUT_DIR holds a socket "sock"/,
  ],
  [
    'a symlink in a subdirectory',
    'mkdir "$OUTPUT_DIR/d"; ln -s /etc "$OUTPUT_DIR/d/etc"',
    /OUTPUT_DIR holds a symlink "d\/etc"/,
  ],
]) {
  test(`${what} in OUTPUT_DIR fails the step with a message; nothing of it is stored`, async (t) => {
    const ws = workspace(t);
    ws.write('m.toml', one(`echo fine > "$OUTPUT_DIR/ok"\n${body}`));
    const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, message);
    const d = await openDb(ws.db);
    assert.equal(d.prepare('SELECT count(*) FROM step_output').pluck().get(), 0);
    d.close();
    assert.ok(isEmptyDir(ws.path('db', 'tmp')));
  });
}

test('a script that daemonises a child neither hangs the step nor leaves the child running', async (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    one('( sleep 300 & echo $! > "$PIDFILE" ) ; echo started > "$OUTPUT_DIR/x"', '') +
      `
[[task]]
name = "verbose-too"
inputs = []
script = '( sleep 300 & echo $! > "$PIDFILE2" ) ; echo hi'
`,
  );
  const t0 = Date.now();
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-verbose'], {
    env: { PIDFILE: ws.path('pid'), PIDFILE2: ws.path('pid2') },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Date.now() - t0 < 30_000, 'did not wait for the daemon');
  assert.match(r.stderr, /\[verbose-too#\d+\] hi/);
  for (const f of ['pid', 'pid2']) assert.equal(isAlive(Number(ws.read(f))), false, 'the daemonised child was killed');
});

test('a script that floods stdout with hundreds of MB completes with bounded engine memory', async (t) => {
  const ws = workspace(t);
  ws.write('m.toml', one('head -c 300000000 /dev/zero | tr "\\\\0" x; echo > "$OUTPUT_DIR/x"'));
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db]);
  assert.equal(r.code, 0, r.stderr);
  const d = await openDb(ws.db);
  const summary = JSON.parse(d.prepare('SELECT summary FROM run ORDER BY id DESC LIMIT 1').pluck().get());
  const logSize = d
    .prepare(
      'SELECT o.size FROM step s JOIN attempt a ON a.step_id = s.id AND a.attempt = s.attempts JOIN object o ON o.hash = a.log_hash',
    )
    .pluck()
    .get();
  d.close();
  assert.equal(logSize, 300_000_000, 'the whole output is kept in the log');
  assert.ok(summary.maxRssKb < 200 * 1024, `engine peak RSS ${summary.maxRssKb} KiB`);
});
