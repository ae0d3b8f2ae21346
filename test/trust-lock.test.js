// The db lock under races: many starters that all find a stale lock (its pid is dead), of which
// exactly one may take it over; the others must name the winner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cli, cliSpawn, exited, linesOf, waitFor, workspace } from './helpers.js';

/** A pid that was alive a moment ago and is not any more. */
function deadPid() {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(String(r.stdout).trim());
}

test(
  '20 runs started at once on a stale lock: exactly one runs, the others exit 2 naming its pid (3 rounds)',
  { timeout: 180_000 },
  async (t) => {
    for (let round = 0; round < 3; round++) {
      const ws = workspace(t);
      // The one that runs holds the lock until every other starter has given up, however slowly
      // they start on a busy machine.
      ws.write(
        'm.toml',
        '[[task]]\nname = "slow"\nscript = \'echo "$$" >> "$RAN"; while [ ! -e "$RELEASE" ]; do sleep 0.1; done\'\n',
      );
      mkdirSync(ws.db);
      writeFileSync(join(ws.db, 'lock'), `${deadPid()}\n`);
      const env = { RAN: ws.path('ran'), RELEASE: ws.path('release') };
      const starters = Array.from({ length: 20 }, () =>
        cliSpawn(['-manifest', ws.path('m.toml'), '-db', ws.db, '-quiet'], { env }),
      );
      let ended = 0;
      const all = Promise.all(
        starters.map((c) =>
          exited(c).then((r) => {
            ended++;
            return { ...r, pid: c.pid };
          }),
        ),
      );
      await waitFor(() => ended >= 19, 150_000, 'the other starters to give up').catch(() => {});
      writeFileSync(ws.path('release'), '');
      const results = await all;
      const winners = results.filter((r) => r.code === 0);
      assert.equal(
        winners.length,
        1,
        `round ${round}: exactly one run: ${results.map((r) => `${r.code} ${r.stderr.trim()}`).join(' | ')}`,
      );
      assert.equal(linesOf(ws.path('ran')).length, 1, 'the script ran once');
      for (const r of results.filter((x) => x !== winners[0])) {
        assert.equal(r.code, 2, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(`lock is held by running process ${winners[0].pid}: another run is using this db`),
        );
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      }
      assert.equal(existsSync(join(ws.db, 'lock')), false, 'released');
      assert.deepEqual(
        readdirSync(ws.db).filter((n) => n.startsWith('lock')),
        [],
        'no candidate or pin left behind',
      );
    }
  },
);

// Processes that load only the lock module and all call acquire() at the same instant: a much
// tighter race than whole runs starting up.
const RACER = `
import { DbLock } from ${JSON.stringify(join(ROOT, 'dist/store/lock.js'))};
const [path, at] = process.argv.slice(1);
const wait = Number(at) - Date.now();
if (wait > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
const lock = new DbLock(path);
try {
  lock.acquire();
} catch (err) {
  console.log('refused ' + err.message);
  process.exit(0);
}
console.log('took');
// Held until the test has seen every other racer give up.
process.stdin.resume();
process.stdin.on('end', () => lock.release());
`;

test(
  'the lock module itself: 20 processes calling acquire() at the same instant on a stale lock, 3 rounds',
  { timeout: 120_000 },
  async (t) => {
    for (let round = 0; round < 3; round++) {
      const ws = workspace(t);
      const path = ws.path('lock');
      writeFileSync(path, `${deadPid()}\n`);
      const at = Date.now() + 1500;
      const racers = Array.from({ length: 20 }, () =>
        spawn(process.execPath, ['--input-type=module', '-e', RACER, path, String(at)], {
          stdio: ['pipe', 'pipe', 'pipe'],
        }),
      );
      let ended = 0;
      const all = Promise.all(
        racers.map((c) =>
          exited(c).then((r) => {
            ended++;
            return { ...r, pid: c.pid };
          }),
        ),
      );
      await waitFor(() => ended >= 19, 60_000, 'the other racers to give up').catch(() => {});
      for (const c of racers) c.stdin.end();
      const results = await all;
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      const took = results.filter((r) => r.stdout.trim() === 'took');
      assert.equal(took.length, 1, `round ${round}: ${results.map((r) => r.stdout.trim()).join(' | ')}`);
      for (const r of results.filter((x) => x !== took[0])) {
        assert.equal(
          r.stdout.trim(),
          `refused ${path} is held by running process ${took[0].pid}: another run is using this db`,
        );
      }
      assert.deepEqual(readdirSync(ws.dir), [], 'the lock, candidates and pins are all gone');
    }
  },
);

test('a pin left by a taker that died, and a lock naming a zombie, do not block a run', async (t) => {
  const ws = workspace(t);
  ws.write('m.toml', '[[task]]\nname = "t"\nscript = \'echo ok > "$OUTPUT_DIR/x"\'\n');
  mkdirSync(ws.db);
  const dead = deadPid();
  writeFileSync(join(ws.db, 'lock'), `${dead}\n`);
  // A taker killed between its link and its unlink: the stale lock has a second name.
  linkSync(join(ws.db, 'lock'), join(ws.db, `lock.take.${dead}.0123456789ab`));
  let r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    readdirSync(ws.db).filter((n) => n.startsWith('lock')),
    [],
  );

  // The background sleep exits at once, and the exec'd sleep (its parent) never reaps it.
  const holder = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 20'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.after(() => holder.kill('SIGKILL'));
  const zombie = await new Promise((resolve) => holder.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
  await new Promise((resolve) => setTimeout(resolve, 300));
  writeFileSync(join(ws.db, 'lock'), `${zombie}\n`);
  r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-quiet']);
  assert.equal(r.code, 0, r.stderr);
});

test('a live lock is never taken over, however it is raced', async (t) => {
  const ws = workspace(t);
  ws.write('m.toml', '[[task]]\nname = "t"\nscript = \'echo ok > "$OUTPUT_DIR/x"\'\n');
  mkdirSync(ws.db);
  writeFileSync(join(ws.db, 'lock'), `${process.pid}\n`);
  const all = await Promise.all(
    Array.from({ length: 6 }, () => exited(cliSpawn(['-manifest', ws.path('m.toml'), '-db', ws.db]))),
  );
  for (const r of all) {
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`held by running process ${process.pid}`));
  }
  assert.deepEqual(
    readdirSync(ws.db).filter((n) => n.startsWith('lock')),
    ['lock'],
  );
});
