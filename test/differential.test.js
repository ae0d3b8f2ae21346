// Differential test: random pipelines, inputs and 3-4 runs with changes between them (test/differential/);
// after every run each task's current outputs in the engine (ls -json, export) must equal, byte for byte, a
// plain stateless computation of the same pipeline over the current inputs (test/differential/reference.js).
//
// Reproduce a seed (verbose: the manifest, the inputs, each comparison):
//   npm run build && node test/differential/run.js --seed 17          (--keep leaves its temp dir)
// Run 1,000 seeds (prints "N passed, M failed"; exit 1 on any failure):
//   node test/differential/run.js --seeds 1000                        (or --from 1001 --count 500; --jobs 2)
// Here: seeds 1..50 and four more, or DIFF_SEEDS="1..200" / DIFF_SEEDS="3,17,40..45" (DIFF_JOBS: seeds at once,
// default 2). Seeds 80, 460, 590 and 680 settle their inputs and give a flat directory again: the C helper
// cuts it into its summary's chunks (src/executor/native/list-dir.c), which 1..50 never reach.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { CLI } from './differential/cli.js';
import { runSeed } from './differential/harness.js';
import { parseSeeds } from './differential/seeds.js';

const seeds = parseSeeds(process.env.DIFF_SEEDS ?? '1..50,80,460,590,680');
const jobs = Number(process.env.DIFF_JOBS ?? 2);

test(
  `differential: ${seeds.length} seeded random pipelines, engine vs stateless reference`,
  { concurrency: jobs, timeout: 60 * 60_000 },
  async (t) => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build first`);
    const started = Date.now();
    await Promise.all(
      seeds.map((seed) =>
        t.test(`seed ${seed}`, async () => {
          const r = await runSeed(seed);
          assert.ok(r.ok, r.failure ?? '');
        }),
      ),
    );
    t.diagnostic(`${seeds.length} seeds in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  },
);
