#!/usr/bin/env node
// The fuzzer from the command line (build first: npm run build).
//   node test/fuzz/run.js --seed 7 --count 20000      a longer run of one seed
//   node test/fuzz/run.js --seed 7 --only 1234        one case of it again, through the CLI too
// Options: --cli K (how many cases also go through the real CLI, default 50), --jobs J. Exit 1 on any failure.
import { fuzz } from './fuzz.js';

const argv = process.argv.slice(2);
// Under `node --test test/` every .js file below test/ is executed: with no arguments there, do nothing.
if (argv.length === 0 && process.env.NODE_TEST_CONTEXT) process.exit(0);

const opts = { seed: 1, count: 1000, cliSample: 50, only: null, jobs: 2 };
const names = { '--seed': 'seed', '--count': 'count', '--cli': 'cliSample', '--only': 'only', '--jobs': 'jobs' };
for (let i = 0; i < argv.length; i++) {
  const key = names[argv[i]];
  const value = Number(argv[i + 1]);
  if (!key || !Number.isInteger(value)) {
    process.stderr.write('usage: node test/fuzz/run.js [--seed N] [--count M] [--only I] [--cli K] [--jobs J]\n');
    process.exit(2);
  }
  opts[key] = value;
  i++;
}
if (opts.only !== null) opts.count = Math.max(opts.count, opts.only + 1);

const r = await fuzz(opts);
for (const f of r.failures)
  process.stdout.write(
    `FAIL case ${f.case} (${f.what}): ${f.detail}\n  again: node test/fuzz/run.js --seed ${opts.seed} --only ${f.case}\n`,
  );
process.stdout.write(
  `seed ${opts.seed}: ${r.cases} cases (${r.valid} valid, ${r.refused} refused, ${r.cli} through the CLI), ` +
    `${r.failures.length} failures, ${(r.ms / 1000).toFixed(1)} s\n`,
);
process.exit(r.failures.length > 0 ? 1 : 0);
