#!/usr/bin/env node
// The metadata store's cost per finished step when claims and commits are written one step per
// transaction (what a B1 run does today: the write batcher flushes every event-loop turn, with
// one or two steps in it) against B steps per transaction. Each step: claimed, then committed
// done with one new output that fans out to a downstream task, as in B1.
// usage: node bench/profile/commit-batching.js [STEPS] [BATCH...]   (after npm run build)
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../dist/store/database.js';
import { SqliteMetadata } from '../../dist/store/sqlite-metadata.js';

const steps = Number(process.argv[2] ?? 4000);
const batches = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [1, 8, 32, 128];
const sha = (s) => createHash('sha256').update(s).digest('hex');

for (const batch of batches) {
  const dir = mkdtempSync(join(tmpdir(), 'commit-batching-'));
  const db = openDatabase(dir, { create: true });
  const meta = new SqliteMetadata(db);
  const runId = await meta.beginRun('bench', process.pid);
  const ids = await meta.registerTasks(
    ['a', 'b', 'c'].map((name) => ({ name, script: name, version: sha(name), definition: name })),
  );
  const [a, b, c] = ['a', 'b', 'c'].map((n) => ids.get(n));
  // Pending steps of task b over distinct objects, as a finished split would have left them.
  db.transaction(() => {
    const now = Date.now();
    for (let i = 0; i < steps; i++) {
      const h = sha(`in ${i}`);
      db.prepare('INSERT INTO object(hash, size, created_at) VALUES (?, 1, ?)').run(h, now);
      db.prepare('INSERT INTO step(task, object_hash, input_name, created_at) VALUES (?, ?, ?, ?)').run(
        b,
        h,
        `line-${i}`,
        now,
      );
    }
  })();
  const pending = db.prepare('SELECT id FROM step WHERE task = ? ORDER BY id').pluck().all(b);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < pending.length; i += batch) {
    const group = pending.slice(i, i + batch);
    // Claimed and finished within one batch: the batcher writes such a step once, with its outcome.
    const outcomes = group.map((id) => {
      const out = sha(`out ${id}`);
      return {
        stepId: id,
        taskId: b,
        status: 'done',
        exitCode: 0,
        error: null,
        log: null,
        startedAt: Date.now(),
        finishedAt: Date.now(),
        outputs: [{ name: `line-${id}`, hash: out, size: 60 }],
        fanOut: [{ taskId: c, name: `line-${id}`, hash: out }],
      };
    });
    await meta.commit({ claims: [], outcomes, now: Date.now() }, runId);
  }
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / steps;
  console.log(`batch ${String(batch).padStart(4)}: ${us.toFixed(1).padStart(7)} us per step (claim + commit)`);
  void a;
  await meta.close();
  rmSync(dir, { recursive: true, force: true });
}
