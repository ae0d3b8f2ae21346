#!/usr/bin/env node
// node bench/lineage-pg.js [NAME=BUILD_DIR]...   (default: this checkout as "this")
// `lineage` of a gather over a 601-step tree (200 inputs, each split in two parts, each part counted), on a
// local db and on PostgreSQL (a throwaway cluster, as the tests start one), each build given taking turns,
// three rounds. Prints the client's CPU (user + system) and wall time per run. Not a test; the numbers go
// to bench/RESULTS.md.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '../test/pg-cluster.js';
import { TREE } from '../test/pg-compare.js';

const here = fileURLToPath(new URL('..', import.meta.url));
const N = 200;

const builds = process.argv.length > 2 ? process.argv.slice(2).map((b) => b.split('=')) : [['this', here]];
const cleanups = [];
const pg = await startPostgres((fn) => cleanups.push(fn));
const dir = mkdtempSync(join(tmpdir(), 'tp-lineage-bench-'));
cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
try {
  writeFileSync(join(dir, 'm.toml'), TREE);
  mkdirSync(join(dir, 'in'));
  for (let i = 0; i < N; i++) writeFileSync(join(dir, 'in', `f${String(i).padStart(4, '0')}.txt`), `line ${i}\n`);
  const sides = { sqlite: ['-db', join(dir, 'db')], postgres: ['-db', await pg.newDb(), '-store', join(dir, 'store')] };
  const cli = (build, args) =>
    spawnSync(process.execPath, [join(build, 'dist/cli/main.js'), ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  for (const args of Object.values(sides)) {
    const r = cli(here, ['-manifest', join(dir, 'm.toml'), ...args, '-input', join(dir, 'in'), '-quiet']);
    if (r.status !== 0) throw new Error(r.stderr);
  }
  const total = JSON.parse(cli(here, ['ls', '-task', 'total', '-json', ...sides.sqlite]).stdout)[0].hash;
  const runs = new Map();
  const texts = new Set();
  for (let round = 0; round < 3; round++) {
    for (const [name, build] of builds) {
      for (const [engine, args] of Object.entries(sides)) {
        const argv = ['-f', '%U %S %e', process.execPath, join(build, 'dist/cli/main.js'), 'lineage', total];
        const r = spawnSync('/usr/bin/time', [...argv, '-width', '1000', '-limit', '1000', ...args], {
          encoding: 'utf8',
          maxBuffer: 1 << 28,
        });
        if (r.status !== 0) throw new Error(r.stderr);
        const [user, sys, wall] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
        const key = `${name} ${engine}`;
        if (!runs.has(key)) runs.set(key, []);
        runs.get(key).push({ cpu: (user + sys).toFixed(2), wall: wall.toFixed(2) });
        texts.add(r.stdout.replace(/step \d+/g, 'step N'));
      }
    }
  }
  for (const [key, v] of runs)
    console.log(`${key.padEnd(20)} cpu ${v.map((x) => x.cpu).join(' ')}   wall ${v.map((x) => x.wall).join(' ')}`);
  console.log(`distinct trees (step ids masked): ${texts.size}`);
} finally {
  for (const c of cleanups.reverse()) c();
}
