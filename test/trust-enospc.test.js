import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, isEmptyDir, listObjects, openDb, sha256, workspace } from './helpers.js';

/** A real small filesystem: a tmpfs of `size`, or a reason why this machine cannot have one. */
function smallFs(t, dir, size) {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}`;
  t.after(() => {
    spawnSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return null;
}

test('disk full during a step: the step fails with a clear message, the db stays consistent, and with space again the next run completes', async (t) => {
  const ws = workspace(t);
  const fs = mkdtempSync(join(tmpdir(), 'tp-small-'));
  const why = smallFs(t, fs, '4m');
  if (why) {
    t.skip(`skipped: ${why}`);
    return;
  }
  const db = `${fs}/db`;
  ws.write(
    'm.toml',
    `
[[task]]
name = "make"
script = 'head -c 2500000 /dev/urandom > "$OUTPUT_DIR/blob"'

[[task]]
name = "copy"
script = 'cat "$INPUT_FILE" "$INPUT_FILE" > "$OUTPUT_DIR/twice"'
`,
  );
  const r = cli(['-manifest', ws.path('m.toml'), '-db', db]);
  assert.equal(r.code, 1, r.stderr);
  // INPUT_FILE is a hard link (no copy to run out of space for): the script's own output fills the
  // disk, too full even for its error message in the log.
  assert.match(r.stderr, /copy step \d+: exit code 1/);
  // The engine's own writes: an input that does not fit in the store, said plainly.
  ws.write('big-input', Buffer.alloc(3 << 20, 'b'));
  const ingest = cli(['-manifest', ws.path('m.toml'), '-db', db, '-input', ws.path('big-input')]);
  assert.equal(ingest.code, 1, ingest.stderr);
  assert.match(ingest.stderr, /no space left on device/);
  assert.doesNotMatch(r.stderr + ingest.stderr, /\n\s+at /, 'no stack trace');
  assert.ok(isEmptyDir(`${db}/tmp`), 'tmp/ is emptied after the failure');
  for (const o of listObjects(db)) assert.equal(sha256(readFileSync(o.path)), o.hash);

  execFileSync('mount', ['-o', 'remount,size=64m', fs]);
  const again = cli(['-manifest', ws.path('m.toml'), '-db', db]);
  assert.equal(again.code, 0, again.stderr);
  const d = await openDb(db);
  const statuses = d.prepare(`SELECT status, count(*) AS n FROM step GROUP BY status`).all();
  d.close();
  assert.deepEqual(statuses, [{ status: 'done', n: 2 }]);
});
