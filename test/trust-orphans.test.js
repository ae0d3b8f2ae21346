// No script outlives its engine: the spawner helper kills every process group it started when the
// engine goes (EOF on its stdin, or the parent-death signal), and the engine survives its helper
// being killed (the run stops, its steps go back to pending, the next run does them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, cli, cliSpawn, exited, isAlive, linesOf, openDb, waitFor, workspace } from './helpers.js';

const NATIVE = join(ROOT, 'dist/executor/native/task-pipeline-spawner');
// Where it was not built (no C compiler) scripts are children of the engine: trust-signals.test.js covers that.
const HELPERS = existsSync(NATIVE) ? ['c'] : [];

// Each step records its shell's pid and its background sleep's pid, then waits.
const MANIFEST = `[[task]]
name = "s"
script = '''
sleep "\${SLEEP:-30}" &
echo $! >> "$PIDS"
echo $$ >> "$PIDS"
wait
echo ok > "$OUTPUT_DIR/x"
'''
`;

function setUp(t) {
  const ws = workspace(t);
  ws.write('m.toml', MANIFEST);
  const inputs = [1, 2, 3, 4].flatMap((i) => ['-input', ws.write(`in/${i}.txt`, `${i}\n`)]);
  const args = ['-manifest', ws.path('m.toml'), '-db', ws.db, '-parallel', '4', ...inputs];
  // Whatever a failed assertion leaves running is killed with the test.
  t.after(() => {
    for (const pid of linesOf(ws.path('pids')).map(Number)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  return { ws, args };
}

/** The engine's children, by their command lines. */
function childrenOf(pid) {
  const out = [];
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid)
        out.push({ pid: Number(name), cmdline: readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0') });
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function isHelper(c) {
  return c.cmdline[0] === NATIVE;
}

for (const helper of HELPERS) {
  test(
    `${helper} helper: kill -9 of the engine mid-run leaves no script of it alive a second later`,
    { timeout: 120_000 },
    async (t) => {
      const { ws, args } = setUp(t);
      const engine = cliSpawn(args, { env: { PIDS: ws.path('pids') } });
      const done = exited(engine);
      await waitFor(() => linesOf(ws.path('pids')).length >= 8, 60_000, 'four scripts to start');
      const pids = linesOf(ws.path('pids')).map(Number);
      assert.ok(pids.every(isAlive), 'the scripts run');
      engine.kill('SIGKILL');
      await done;
      const t0 = Date.now();
      await waitFor(
        () => pids.every((p) => !isAlive(p)),
        1000,
        `every script of the killed run to be gone (still alive: ${pids.filter(isAlive)})`,
      );
      t.diagnostic(`gone ${Date.now() - t0} ms after the engine`);
    },
  );

  test(
    `${helper} helper: kill -9 of the helper mid-run stops the run with a message; the next run does the work`,
    { timeout: 120_000 },
    async (t) => {
      const { ws, args } = setUp(t);
      const env = { PIDS: ws.path('pids') };
      const engine = cliSpawn(args, { env });
      const done = exited(engine);
      await waitFor(() => linesOf(ws.path('pids')).length >= 8, 60_000, 'four scripts to start');
      const pids = linesOf(ws.path('pids')).map(Number);
      const helpers = childrenOf(engine.pid).filter(isHelper);
      assert.equal(helpers.length, 1, JSON.stringify(childrenOf(engine.pid)));
      process.kill(helpers[0].pid, 'SIGKILL');
      const t0 = Date.now();
      const r = await done;
      assert.ok(Date.now() - t0 < 10_000, `the run ended ${Date.now() - t0} ms after its helper died`);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `task-pipeline: the run stopped: the spawner helper \\(pid ${helpers[0].pid}\\) was killed by SIGKILL ` +
            'while 4 steps were handed to it: its scripts were killed and the steps go back to pending; run the same command again to do them',
        ),
      );
      assert.doesNotMatch(r.stderr, /internal error|\n {4}at /);
      assert.match(r.stdout, /^stopped: 0 steps run/m);
      await waitFor(() => pids.every((p) => !isAlive(p)), 2000, 'the scripts of the dead helper to be gone');
      const db = await openDb(ws.db);
      const rows = db.prepare(`SELECT status, attempts FROM step`).all();
      db.close();
      assert.deepEqual(
        rows.map((x) => x.status),
        ['pending', 'pending', 'pending', 'pending'],
        'back to pending, not failed',
      );

      const again = cli(args, { env: { ...env, SLEEP: '0' } });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /done: 4 steps run/);
    },
  );
}

// The parent-death signal alone (its stdin stays open): the helper's parent is a shell that is
// killed, while this test holds the other end of the helper's stdin.
for (const helper of HELPERS) {
  test(
    `${helper} helper: the death of its parent alone (stdin still open) kills its scripts`,
    { timeout: 60_000 },
    async (t) => {
      const ws = workspace(t);
      const fifo = ws.path('stdin');
      execFileSync('mkfifo', [fifo]);
      const cmd = [NATIVE];
      const parent = spawn('sh', ['-c', `"$@" 4 < "${fifo}" > /dev/null & echo $!; wait`, 'sh', ...cmd], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      t.after(() => parent.kill('SIGKILL'));
      const helperPid = new Promise((resolve) => parent.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
      const stdin = await open(fifo, 'w');
      t.after(() => stdin.close());
      const pidFile = ws.path('pid');
      // R id cwd stdout stderr base flags, then nothing to store (objects outdir input state log empty).
      const fields = [
        'R',
        '1',
        ws.dir,
        '/dev/null',
        '/dev/null',
        '',
        '',
        '',
        '',
        '',
        '',
        '',
        '3',
        '/bin/sh',
        '-c',
        `echo $$ > "${pidFile}"; exec sleep 30`,
        'PATH=/usr/bin:/bin',
      ];
      const payload = Buffer.from(fields.join('\0'));
      await stdin.write(Buffer.concat([Buffer.from(`${payload.length}\n`), payload]));
      await waitFor(
        () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n'),
        20_000,
        'the script to start',
      );
      const script = Number(readFileSync(pidFile, 'utf8'));
      const pid = await helperPid;
      assert.ok(isAlive(script) && isAlive(pid));
      parent.kill('SIGKILL');
      await waitFor(() => !isAlive(script), 1000, 'the script to be killed');
      await waitFor(() => !isAlive(pid), 1000, 'the helper to exit');
    },
  );
}
