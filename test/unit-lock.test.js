// The db lock (src/store/lock.ts) on its own: acquire, refusal naming the holder, stale takeover, release.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { ROOT, exited, workspace } from './helpers.js';
import { DbLock, isLockName } from '../dist/store/lock.js';

/** A pid that was alive a moment ago and is not any more. */
function deadPid() {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(String(r.stdout).trim());
}

const lockNames = (dir) => readdirSync(dir).filter(isLockName).sort();

/** Another process that takes the lock and holds it until its stdin closes. */
async function holder(path) {
  const src = `
import { DbLock } from ${JSON.stringify(join(ROOT, 'dist/store/lock.js'))};
const lock = new DbLock(process.argv[1]);
lock.acquire();
console.log('took');
process.stdin.resume();
process.stdin.on('end', () => lock.release());
`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', src, path], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const [line] = await once(child.stdout, 'data');
  assert.equal(String(line).trim(), 'took');
  return child;
}

test('acquire writes our pid and a newline under `lock`, leaves no candidate behind; release removes it', (t) => {
  const ws = workspace(t);
  const path = ws.path('lock');
  const lock = new DbLock(path);
  lock.acquire();
  assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
  assert.deepEqual(lockNames(ws.dir), ['lock']);
  lock.release();
  assert.equal(existsSync(path), false);
  lock.release(); // a second release is a no-op
  assert.deepEqual(lockNames(ws.dir), []);
});

test('a lock held by a live process is refused, naming its pid, and left as it was', async (t) => {
  const ws = workspace(t);
  const path = ws.path('lock');
  const child = await holder(path);
  t.after(() => child.kill());
  const err = (() => {
    try {
      new DbLock(path).acquire();
    } catch (e) {
      return e;
    }
    return null;
  })();
  assert.ok(err, 'refused');
  assert.equal(err.code, 'ELOCKED');
  assert.equal(err.message, `${path} is held by running process ${child.pid}: another run is using this db`);
  assert.equal(readFileSync(path, 'utf8'), `${child.pid}\n`);
  assert.deepEqual(lockNames(ws.dir), ['lock'], 'our candidate and pin are gone');
  child.stdin.end();
  const r = await exited(child);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(path), false, 'the holder released it');
  // Free now: it can be taken.
  const lock = new DbLock(path);
  lock.acquire();
  assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
  lock.release();
});

test("a stale lock (its pid is dead) is taken over, and a dead taker's pin and candidate are cleared", (t) => {
  const ws = workspace(t);
  const path = ws.path('lock');
  const dead = deadPid();
  writeFileSync(path, `${dead}\n`);
  // Debris of a taker that died mid-takeover: a pin on the stale lock, and a candidate.
  const pin = ws.path(`lock.take.${dead}.0123456789ab`);
  linkSync(path, pin);
  writeFileSync(ws.path(`lock.new.${dead}.ba9876543210`), `${dead}\n`);
  const lock = new DbLock(path);
  lock.acquire();
  assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
  assert.equal(existsSync(pin), false, 'the dead pin is removed');
  assert.deepEqual(lockNames(ws.dir), ['lock'], 'the dead candidate is removed too');
  lock.release();
  assert.equal(existsSync(path), false);
});

test('release leaves a lock that is no longer ours (another process took it over)', (t) => {
  const ws = workspace(t);
  const path = ws.path('lock');
  const lock = new DbLock(path);
  lock.acquire();
  writeFileSync(path, `${deadPid()}\n`);
  lock.release();
  assert.equal(existsSync(path), true, 'not ours: kept');
});

test(
  'a directory where the lock cannot be written: one clear error',
  { skip: process.getuid?.() === 0 ? 'root writes anywhere' : false },
  (t) => {
    const ws = workspace(t);
    const dir = ws.path('ro');
    mkdirSync(dir);
    chmodSync(dir, 0o555);
    t.after(() => chmodSync(dir, 0o755));
    assert.throws(
      () => new DbLock(join(dir, 'lock')).acquire(),
      (e) => e.code === 'ELOCKED' && /is not writable \(EACCES\)/.test(e.message),
    );
  },
);
