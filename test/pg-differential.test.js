// The differential test on PostgreSQL: the same seeded random pipelines, inputs and runs as
// differential.test.js (test/differential/), each seed on its own database of one real cluster
// for the file, with three `task-pipeline worker` processes kept for the whole seed and each
// run as their coordinator (test/differential/target.js). After every run, each task's current
// outputs (ls -json, export) must equal, byte for byte, the stateless reference; no step may be
// committed twice, and every worker must stop cleanly with no commit refused.
//
// Reproduce a seed (verbose): npm run build && node test/differential/run.js --seed 17 --pg
// Many seeds:                 node test/differential/run.js --seeds 100 --pg
// Here: PG_DIFF_SEEDS (default "1..10", same syntax as DIFF_SEEDS), PG_DIFF_JOBS (default 2).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { CLI } from './differential/cli.js';
import { runSeed } from './differential/harness.js';
import { parseSeeds } from './differential/seeds.js';
import { postgresMissing, startPostgres } from './pg-cluster.js';

const missing = postgresMissing();
if (missing) console.log(`# skipped: ${missing}`);
const pg = missing ? null : await startPostgres(after);

const seeds = parseSeeds(process.env.PG_DIFF_SEEDS ?? '1..10', 'PG_DIFF_SEEDS');
const jobs = Number(process.env.PG_DIFF_JOBS ?? 2);

test(
  `differential on PostgreSQL: ${seeds.length} seeded random pipelines with 3 workers, vs the stateless reference`,
  { skip: missing ?? false, concurrency: jobs, timeout: 60 * 60_000 },
  async (t) => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build first`);
    const started = Date.now();
    let skipped = 0;
    await Promise.all(
      seeds.map((seed) =>
        t.test(`seed ${seed}`, async () => {
          const r = await runSeed(seed, { pg });
          skipped += r.retiresSkipped;
          assert.ok(r.ok, r.failure ?? '');
        }),
      ),
    );
    t.diagnostic(`${seeds.length} seeds in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (skipped > 0) t.diagnostic(`inputs rm skipped ${skipped} times: PostgreSQL has none yet`);
  },
);
