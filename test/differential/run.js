#!/usr/bin/env node
// The differential test from the command line (build first: npm run build).
//   node test/differential/run.js --seed 17            one seed, verbosely (manifest, inputs, each comparison)
//   node test/differential/run.js --seeds 1000         seeds 1..1000, then "N passed, M failed"
//   node test/differential/run.js --from 500 --count 100
// Options: --jobs J (seeds at once, default 2), --keep (leave the temp dirs), --verbose, --quiet,
// --print (print the generated case of --seed without running anything), --pg (on PostgreSQL with three
// workers, on a cluster started for this command: see target.js). Exit 1 on any failure.

import { generateCase, manifestText } from './generate.js';
import { runSeed } from './harness.js';

const argv = process.argv.slice(2);
// Under `node --test test/` every .js file below test/ is executed: with no arguments there, do nothing.
if (argv.length === 0 && process.env.NODE_TEST_CONTEXT) process.exit(0);

function usage(msg) {
  if (msg) process.stderr.write(`run.js: ${msg}\n`);
  process.stderr.write(
    'usage: node test/differential/run.js --seed N | --seeds N | --from A --count N [--jobs J] [--keep] [--verbose] [--print] [--pg]\n',
  );
  process.exit(2);
}

const opts = { jobs: 2, keep: false, verbose: undefined, quiet: false, print: false, pg: false };
let seeds = null;
let from = null;
let count = null;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i].replace(/^--?/, '');
  const num = () => {
    const v = Number(argv[++i]);
    if (!Number.isInteger(v)) usage(`--${a} needs an integer`);
    return v;
  };
  if (a === 'seed') seeds = [num()];
  else if (a === 'seeds') {
    const n = num();
    seeds = Array.from({ length: n }, (_, k) => k + 1);
  } else if (a === 'from') from = num();
  else if (a === 'count') count = num();
  else if (a === 'jobs') opts.jobs = num();
  else if (a === 'keep') opts.keep = true;
  else if (a === 'verbose') opts.verbose = true;
  else if (a === 'quiet') opts.quiet = true;
  else if (a === 'print') opts.print = true;
  else if (a === 'pg') opts.pg = true;
  else if (a === 'timing') opts.timing = true;
  else if (a === 'help' || a === 'h') usage();
  else usage(`unknown argument ${argv[i]}`);
}
if (from !== null || count !== null) {
  seeds = Array.from({ length: count ?? 100 }, (_, k) => (from ?? 1) + k);
}
if (seeds === null) usage('give --seed N, --seeds N or --from A --count N');

if (opts.print) {
  for (const seed of seeds) {
    const c = generateCase(seed);
    c.runs.forEach((r, i) => {
      console.log(`=== seed ${seed} run ${i + 1}: ${r.changes.join('; ')}`);
      console.log(JSON.stringify({ fsOps: r.fsOps, retire: r.retire, inputArgs: r.inputArgs }));
      console.log(manifestText(r.tasks));
    });
  }
  process.exit(0);
}

// --pg: one cluster for the command, stopped at the end (and on Ctrl-C).
const cleanups = [];
const cleanUp = () => cleanups.splice(0).forEach((f) => f());
let pg = null;
if (opts.pg) {
  const { postgresMissing, startPostgres } = await import('../pg-cluster.js');
  const missing = postgresMissing();
  if (missing) usage(`--pg: ${missing}`);
  process.on('SIGINT', () => {
    cleanUp();
    process.exit(130);
  });
  pg = await startPostgres((f) => cleanups.push(f));
}

const verbose = opts.verbose ?? seeds.length === 1;
const started = Date.now();
let passed = 0;
const failed = [];
let next = 0;
let runs = 0;
let exportsChecked = 0;
let exportsPartial = 0;
let retiresSkipped = 0;
const time = { engine: 0, reference: 0, compare: 0 };
async function worker() {
  while (next < seeds.length) {
    const seed = seeds[next++];
    const r = await runSeed(seed, { verbose, keep: opts.keep, pg });
    runs += r.runs;
    retiresSkipped += r.retiresSkipped;
    exportsChecked += r.exportsChecked;
    exportsPartial += r.exportsPartial;
    for (const k of Object.keys(time)) time[k] += r.time[k];
    if (r.ok) {
      passed++;
      if (!opts.quiet && !verbose && seeds.length > 1 && (passed + failed.length) % 50 === 0) {
        process.stderr.write(`  ${passed + failed.length}/${seeds.length} (${failed.length} failed so far)\n`);
      }
    } else {
      failed.push(seed);
      console.log(`\nFAIL ${r.failure}`);
    }
    if (opts.keep) console.log(`seed ${seed}: kept ${r.dir}`);
  }
}
await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.jobs, seeds.length)) }, worker)).finally(cleanUp);
const secs = ((Date.now() - started) / 1000).toFixed(1);
console.log(
  `\n${passed} passed, ${failed.length} failed (${seeds.length} seeds${pg ? ' on PostgreSQL' : ''}, ${runs} engine runs, ${exportsChecked} exports checked, ${exportsPartial} of them with shared paths; ${secs} s)`,
);
if (retiresSkipped > 0) console.log(`inputs rm skipped ${retiresSkipped} times (PostgreSQL has none yet)`);
if (opts.timing)
  console.log(
    `time in engine runs ${(time.engine / 1000).toFixed(1)} s, reference ${(time.reference / 1000).toFixed(1)} s, comparisons ${(time.compare / 1000).toFixed(1)} s (summed over seeds)`,
  );
if (failed.length > 0) console.log(`failed seeds: ${failed.join(' ')}`);
process.exit(failed.length > 0 ? 1 : 0);
