// What a worker host gets and leaves, on a real cluster (pg-cluster.js): protocol = "lines" tasks
// run by `task-pipeline worker` processes in their copy of the task's `files`, with the outputs of
// a local SQLite run; and the shared store's tmp/ directories of other hosts' dead workers, which
// a run removes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, cliSpawn, exited, isAlive, linesOf, workspace } from './helpers.js';
import { postgresMissing, startPostgres } from './pg-cluster.js';

const missing = postgresMissing();
if (missing) console.log(`# skipped: ${missing}`);
const pg = missing ? null : await startPostgres(after);
const ENV = { TASK_PIPELINE_POLL_MS: '50' };

/** A lines task that calls a tool from `files`, then a one-shot task; each process start appends its pid. */
function pipeline(w) {
  chmodSync(w.write('tools/tag.sh', '#!/bin/sh\nprintf "tagged:%s\\n" "$1"\n'), 0o755);
  w.write(
    'm.toml',
    `
[[task]]
name = "upper"
protocol = "lines"
files = ["tools/tag.sh"]
script = '''
#!/usr/bin/env python3
import os, subprocess, task_pipeline_lines
with open(${JSON.stringify(w.path('starts'))}, "a") as f:
    f.write("%d\\n" % os.getpid())

def step(s):
    tag = subprocess.run(["./tools/tag.sh", s.input_name], capture_output=True, text=True, check=True).stdout
    with open(os.path.join(s.output_dir, s.input_name), "w") as out:
        out.write(open(s.input_file).read().upper() + tag)

task_pipeline_lines.run(step)
'''

[[task]]
name = "count"
script = 'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME.n"'
`,
  );
  for (let i = 0; i < 16; i++) w.write(`in/f${String(i).padStart(2, '0')}.txt`, `line ${i} ${'x'.repeat(i)}\n`);
}

test(
  'a protocol = "lines" task runs on the workers, one process per slot, with the outputs of a local run',
  { skip: missing ?? false },
  async (t) => {
    const w = workspace(t);
    pipeline(w);
    const local = cli(['-manifest', w.path('m.toml'), '-db', w.db, '-input', w.path('in'), '-quiet']);
    assert.equal(local.code, 0, local.stderr);
    w.write('starts', '');
    const url = await pg.newDb();
    const store = w.path('store');
    const workers = [1, 2].map(() => {
      const child = cliSpawn(['worker', '-db', url, '-store', store, '-parallel', '2'], { env: ENV });
      t.after(() => child.kill('SIGKILL'));
      return { child, done: exited(child) };
    });
    const run = cli(
      ['-manifest', w.path('m.toml'), '-db', url, '-store', store, '-input', w.path('in'), '-coordinate'],
      { env: ENV },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /done: 32 steps run, 0 reused, 0 failed/);
    // The same outputs: name, hash, size and the item each came from.
    for (const task of ['upper', 'count']) {
      const local = cli(['ls', '-db', w.db, '-task', task]);
      const onPg = cli(['ls', '-db', url, '-task', task]);
      assert.equal(onPg.code, 0, onPg.stderr);
      assert.equal(onPg.stdout.split('\n').length, 17, `${task}: 16 outputs`);
      assert.equal(onPg.stdout, local.stdout, task);
    }
    // Every step ran on a worker (the run only coordinated), the lines task in at most one
    // process per worker slot, each kept from step to step.
    const notWorker = await pg.query(
      url,
      `SELECT count(*) AS n FROM attempt a JOIN lease l ON l.id = a.lease WHERE l.kind <> 'worker'`,
    );
    assert.equal(Number(notWorker[0].n), 0);
    const starts = linesOf(w.path('starts'));
    assert.ok(starts.length >= 1 && starts.length <= 4, `${starts.length} lines processes for 2 workers of 2 slots`);
    for (const x of workers) x.child.kill('SIGTERM');
    for (const x of workers) {
      const r = await x.done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /worker stopped: \d+ steps done, 0 failed, 0 refused/);
    }
    for (const pid of starts) assert.ok(!isAlive(Number(pid)), `lines process ${pid} outlived its worker`);
  },
);

test(
  "a run removes the tmp/ directories of other hosts' dead workers, and only those",
  { skip: missing ?? false },
  async (t) => {
    const w = workspace(t);
    w.write('m.toml', '[[task]]\nname = "copy"\nscript = \'cp "$INPUT_FILE" "$OUTPUT_DIR/out"\'\n');
    w.write('in/a.txt', 'a\n');
    const url = await pg.newDb();
    const store = w.path('store');
    const args = ['-manifest', w.path('m.toml'), '-db', url, '-store', store, '-input', w.path('in'), '-quiet'];
    assert.equal(cli(args).code, 0);
    const dir = (pid) => join(store, 'tmp', `far-host-${pid}`);
    for (const pid of [101, 102, 103, 104]) {
      mkdirSync(join(dir(pid), 'slot-0'), { recursive: true });
      writeFileSync(join(dir(pid), 'slot-0', 'log'), 'left behind\n');
    }
    const hourAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(dir(101), hourAgo, hourAgo);
    // 101: its lease expired after it last touched its directory: dead, removed. 102: a live lease.
    // 103: no lease yet (a process starting). 104: touched after its old lease expired (a new
    // process with the same pid, not registered yet).
    await pg.query(
      url,
      `INSERT INTO lease(kind, host, pid, parallel, expires_at, state) VALUES
         ('worker', 'far-host', 101, 2, now() - interval '1 hour', 'expired'),
         ('worker', 'far-host', 102, 2, now() + interval '1 hour', 'live'),
         ('worker', 'far-host', 104, 2, now() - interval '1 hour', 'expired')`,
    );
    const again = cli(args);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(!existsSync(dir(101)), "the dead worker's directory is still there");
    for (const pid of [102, 103, 104])
      assert.ok(existsSync(join(dir(pid), 'slot-0', 'log')), `far-host-${pid} removed`);
  },
);
