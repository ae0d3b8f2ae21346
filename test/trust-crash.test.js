import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cli, cliSpawn, exited, isEmptyDir, listObjects, objectPath, openDb, sha256, workspace } from './helpers.js';

const MANIFEST = `
[[task]]
name = "split"
script = 'split -l 1 -a 3 "$INPUT_FILE" "$OUTPUT_DIR/line-"'

[[task]]
name = "upper"
script = 'sleep 0.02; tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/up"; printf "%s\\n" "$INPUT_NAME" > "$OUTPUT_DIR/name"'

[[task]]
name = "count"
match = ["up"]
script = 'sleep 0.02; wc -c < "$INPUT_FILE" | tr -d " " > "$OUTPUT_DIR/n"'

[[task]]
name = "total"
gather = true
script = 'cat "$INPUT_DIR"/* | awk "{s+=\\$1} END {print s}" > "$OUTPUT_DIR/total"'
`;

async function finalState(db) {
  const d = await openDb(db);
  const { matchesAny } = await import('../dist/manifest/glob.js');
  d.function('tp_match', (m, name) => (matchesAny(JSON.parse(m), name) ? 1 : 0));
  const { CURRENT_STEPS_CTE } = await import('../dist/store/schema.js');
  const rows = d
    .prepare(
      `${CURRENT_STEPS_CTE}
    SELECT c.name AS task, o.name, lower(hex(o.object_hash)) AS hash FROM cur JOIN step s ON s.id = cur.id
      JOIN current_task c ON c.task_id = s.task JOIN step_output o ON o.step_id = s.id
     ORDER BY 1, 2, 3`,
    )
    .all();
  d.close();
  return rows.map((r) => `${r.task}\t${r.name}\t${r.hash}`);
}

/** fsck by hand: every file hashes to its name, every referenced object is there. */
async function checkStore(db) {
  for (const o of listObjects(db)) assert.equal(sha256(readFileSync(o.path)), o.hash, `object ${o.hash} is corrupt`);
  const d = await openDb(db);
  if (d.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'step'`).pluck().get() === 0) {
    d.close();
    return;
  }
  const referenced = d
    .prepare(
      `SELECT lower(hex(h)) FROM (SELECT hash AS h FROM object UNION SELECT object_hash FROM step UNION SELECT object_hash FROM step_output
                                UNION SELECT log_hash FROM attempt WHERE log_hash IS NOT NULL UNION SELECT object_hash FROM run_input)`,
    )
    .pluck()
    .all();
  d.close();
  for (const h of referenced) assert.ok(existsSync(objectPath(db, h)), `row points at missing object ${h}`);
}

async function doneSteps(db) {
  const d = await openDb(db);
  try {
    // A kill during the very first start-up can leave a db whose schema is not created yet.
    const hasSchema = d.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'step'`).pluck().get() === 1;
    return hasSchema ? d.prepare(`SELECT id, run_id, finished_at FROM step WHERE status = 'done'`).all() : [];
  } finally {
    d.close();
  }
}

test(
  'kill -9 at many random instants, then run to the end: the same outputs as an uninterrupted run, and an intact store',
  { timeout: 300_000 },
  async (t) => {
    const ws = workspace(t);
    ws.write('m.toml', MANIFEST);
    const lines = Array.from({ length: 160 }, (_, i) => `line ${i % 140} of the input`);
    ws.write('in.txt', `${lines.join('\n')}\n`);
    const args = (db) => ['-manifest', ws.path('m.toml'), '-db', db, '-input', ws.path('in.txt'), '-quiet'];

    const t0 = Date.now();
    const reference = cli(args(ws.path('ref')));
    const refMs = Date.now() - t0;
    assert.equal(reference.code, 0, reference.stderr);
    const expected = await finalState(ws.path('ref'));
    assert.ok(expected.length > 400, `a few hundred outputs (${expected.length})`);

    const db = ws.path('crashed');
    let kills = 0;
    // Kill until the work is done: each run gets a random slice of a full run's time.
    for (let i = 0; i < 40 && kills < 8; i++) {
      const before = existsSync(ws.path('crashed', 'pipeline.sqlite')) ? await doneSteps(db) : [];
      const child = cliSpawn(args(db));
      const done = exited(child);
      // Anywhere from start-up to the end of a full run: ingest, steps, commits, the gather.
      const delay = 30 + Math.floor(Math.random() * Math.min(refMs, 800));
      const timer = setTimeout(() => child.kill('SIGKILL'), delay);
      const r = await done;
      clearTimeout(timer);
      if (r.signal === 'SIGKILL') kills++;
      else {
        assert.equal(r.code, 0, r.stderr);
        if (/\b0 steps run/.test(r.stdout) || r.stdout === '') break;
      }
      if (existsSync(ws.path('crashed', 'pipeline.sqlite'))) {
        // Nothing committed done is ever run again, and no row points at a missing object.
        const again = new Map((await doneSteps(db)).map((s) => [s.id, s]));
        for (const s of before) assert.deepEqual(again.get(s.id), s, `done step ${s.id} ran again`);
        await checkStore(db);
      }
    }
    assert.ok(kills >= 3, `the engine was really killed (${kills} times)`);
    t.diagnostic(`killed ${kills} times; a full run takes ${refMs} ms`);
    // Under heavy load every kill may land before the db is even created.
    const doneBefore = existsSync(ws.path('crashed', 'pipeline.sqlite')) ? await doneSteps(db) : [];
    const last = cli(args(db));
    assert.equal(last.code, 0, last.stderr);
    const doneAfter = new Map((await doneSteps(db)).map((s) => [s.id, s]));
    for (const s of doneBefore) assert.deepEqual(doneAfter.get(s.id), s, `done step ${s.id} ran again`);
    assert.deepEqual(await finalState(db), expected);
    await checkStore(db);
    assert.ok(isEmptyDir(ws.path('crashed', 'tmp')));
  },
);
