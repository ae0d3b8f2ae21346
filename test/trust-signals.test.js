import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { cli, cliSpawn, exited, isAlive, isEmptyDir, openDb, waitFor, workspace } from './helpers.js';

// Each script records its shell's pid and the pid of a child it starts, then sleeps.
const SLOW = (trap = '') => `
[[task]]
name = "slow"
parallel = 2
script = '''
${trap}
sleep "\${SLEEP:-30}" &
child=$!
echo "$$ $child" > "$PIDS/$INPUT_NAME"
wait $child
echo done > "$OUTPUT_DIR/out"
'''
`;

function setup(t, trap) {
  const ws = workspace(t);
  ws.write('m.toml', SLOW(trap));
  for (const n of [1, 2, 3, 4]) ws.write(`in/${n}`, `${n}\n`);
  ws.write('pids/.keep', '');
  return ws;
}

const pidsOf = (ws) =>
  readdirSync(ws.path('pids'))
    .filter((f) => f !== '.keep')
    .flatMap((f) => readFileSync(ws.path('pids', f), 'utf8').trim().split(' ').map(Number));

/** A run in the background, once its two scripts (each a shell and its sleep) have started. */
async function startRun(ws, env) {
  const child = cliSpawn(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in')], { env });
  const done = exited(child);
  await waitFor(() => pidsOf(ws).length === 4, 20_000, 'two scripts to start');
  return { child, done, pids: pidsOf(ws) };
}

async function statuses(db) {
  const d = await openDb(db);
  const rows = d.prepare(`SELECT status, count(*) AS n FROM step GROUP BY status`).all();
  d.close();
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  test(`${sig}: stop launching, stop the running scripts and their children, steps back to pending, exit 130; the next run finishes`, async (t) => {
    const ws = setup(t);
    const env = { PIDS: ws.path('pids') };
    const { child, done, pids } = await startRun(ws, env);
    child.kill(sig);
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, new RegExp(`${sig}: stopping`));
    for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} was left running`);
    assert.deepEqual(await statuses(ws.db), { pending: 4 });
    assert.ok(isEmptyDir(ws.path('db', 'tmp')));

    const again = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env: { ...env, SLEEP: '0' } });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await statuses(ws.db), { done: 4 });
  });
}

test('a script that ignores SIGTERM is killed after the grace period; a second Ctrl-C kills at once', async (t) => {
  const ws = setup(t, "trap '' TERM");
  const env = { PIDS: ws.path('pids') };
  // The sleeping child does not inherit the ignored TERM as a shell builtin would; make it ignore too.
  const { child, done, pids } = await startRun(ws, env);
  const t0 = Date.now();
  child.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGINT');
  const r = await done;
  assert.equal(r.code, 130, r.stderr);
  assert.ok(Date.now() - t0 < 2500, 'the second signal did not wait for the grace period');
  for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} was left running`);
  assert.deepEqual(await statuses(ws.db), { pending: 4 });
});

test('kill -9 of the engine: the next run kills the orphaned scripts and completes', async (t) => {
  const ws = setup(t);
  // The spawner helper kills its scripts itself when the engine dies (trust-orphans.test.js): the
  // scripts of the execa fallback, children of the engine, are the ones a next run has to find.
  const env = { PIDS: ws.path('pids'), TASK_PIPELINE_EXECUTOR: 'execa' };
  const { child, done, pids } = await startRun(ws, env);
  child.kill('SIGKILL');
  await done;
  assert.ok(pids.some(isAlive), 'scripts outlive a kill -9 of the engine');
  const again = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env: { ...env, SLEEP: '0' } });
  assert.equal(again.code, 0, again.stderr);
  for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} was left running`);
  assert.deepEqual(await statuses(ws.db), { done: 4 });
});

test('a script that ignores SIGTERM is killed with SIGKILL after the grace period on a single Ctrl-C', async (t) => {
  const ws = setup(t, "trap '' TERM");
  const env = { PIDS: ws.path('pids') };
  const { child, done, pids } = await startRun(ws, env);
  child.kill('SIGINT');
  const r = await done;
  assert.equal(r.code, 130, r.stderr);
  for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} was left running`);
  assert.deepEqual(await statuses(ws.db), { pending: 4 });
});
