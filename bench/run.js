#!/usr/bin/env node
// npm run bench [-- flags]: the engine against its peers, side by side. Not a test.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs } from './lib/args.js';
import { runB1 } from './lib/b1.js';
import { b1pgMarkdown, runB1pg } from './lib/b1pg.js';
import { runB2 } from './lib/b2.js';
import { runB3 } from './lib/b3.js';
import { runB4 } from './lib/b4.js';
import { b5Markdown, runB5 } from './lib/b5.js';
import { b6Markdown, runB6 } from './lib/b6.js';
import { b7Markdown, runB7, withB7 } from './lib/b7.js';
import { b8Markdown, runB8 } from './lib/b8.js';
import { b9Markdown, runB9 } from './lib/b9.js';
import { have, machine } from './lib/machine.js';
import { hasTime } from './lib/measure.js';
import { markdown } from './lib/report.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const o = parseBenchArgs(process.argv.slice(2));
const work = join(here, 'work');
mkdirSync(work, { recursive: true });
const log = (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const notes = [];
if (!hasTime()) notes.push('/usr/bin/time is missing (apt-get install -y time): no peak RSS figures.');
if (!have('parallel')) notes.push('GNU parallel is missing (apt-get install -y parallel): that B1 peer was skipped.');
for (const n of notes) log(n);
for (const tool of ['make', 'openssl', 'xargs', 'split', 'tr', 'wc'])
  if (!have(tool)) throw new Error(`${tool} is needed by the peers`);

const m = machine();
log(`${m.cores} cores, Node ${m.node}, Linux ${m.kernel}; ${JSON.stringify(o)}`);
const results = [];
const benches = {
  B1: runB1,
  B1PG: runB1pg,
  B2: runB2,
  B3: runB3,
  B4: runB4,
  B5: runB5,
  B6: runB6,
  B7: runB7,
  B8: runB8,
  B9: runB9,
};
// A benchmark that fails (a contender's wrong output, an engine error) is reported, and the others still run.
let failed = 0;
try {
  for (const b of ['B1', 'B3', 'B2', 'B4', 'B1PG', 'B5', 'B6', 'B7', 'B8', 'B9']) {
    if (!o.only.includes(b)) continue;
    try {
      results.push(...(await benches[b](o, work, log)));
    } catch (err) {
      failed++;
      log(`${b} FAILED: ${err.message}`);
      notes.push(`${b} failed: ${err.message.split('\n')[0]}`);
    }
  }
} finally {
  if (!o.keep)
    for (const d of ['b1', 'b1pg', 'b2', 'b4', 'b5', 'b6', 'b7', 'b8', 'b9'])
      rmSync(join(work, d), { recursive: true, force: true });
}
// B1PG's and B5's to B9's sections go where B7's does: before the targets.
const text = [b1pgMarkdown, b5Markdown, b6Markdown, b7Markdown, b8Markdown, b9Markdown].reduce(
  (md, section) => withB7(md, section(o, results)),
  markdown(o, m, results, notes),
);
writeFileSync(o.out, text);
console.log(`\n${text}`);
log(`written to ${o.out}`);
process.exitCode = failed > 0 ? 1 : 0;
