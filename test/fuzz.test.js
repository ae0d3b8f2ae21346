// The manifest loader and the argument parser never fail with anything but one-line messages:
// 1,000 seeded mutations of real manifests and flag lists, 50 of them through the real CLI.
// Reproduce or extend from the command line: node test/fuzz/run.js --seed N --count M.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzz } from './fuzz/fuzz.js';

test(
  'fuzz: 1,000 mutated manifests and argument lists (seed 1), 50 through the CLI: one-line errors or a clean success',
  { timeout: 600_000 },
  async (t) => {
    const r = await fuzz({ seed: 1, count: 1000, cliSample: 50 });
    t.diagnostic(
      `${r.cases} cases (${r.valid} valid, ${r.refused} refused, ${r.cli} through the CLI) in ${(r.ms / 1000).toFixed(1)} s`,
    );
    assert.deepEqual(
      r.failures.map(
        (f) => `case ${f.case} (${f.what}): ${f.detail}\n  again: node test/fuzz/run.js --seed 1 --only ${f.case}`,
      ),
      [],
    );
    assert.ok(r.valid > 50 && r.refused > 50, 'both outcomes are exercised');
    assert.equal(r.cli, 50);
  },
);
