#!/usr/bin/env node
// node bench/serve.js [--pending N] [--repeat R] [--work DIR] [--keep] [--out FILE]
// `task-pipeline serve` on a db with a million pending steps (built as B4 builds it): how long the
// server itself takes (its Server-Timing header) for the overview JSON, a task page and the rest.
// Not a test; the numbers go to bench/RESULTS-serve.md.
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDb } from './lib/b4.js';
import { machine } from './lib/machine.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const o = {
  pending: 1_000_000,
  repeat: 15,
  work: join(here, 'work', 'serve'),
  keep: false,
  out: join(here, 'RESULTS-serve.md'),
};
for (let i = 2; i < process.argv.length; i++) {
  const [flag, inline] = process.argv[i].replace(/^--?/, '').split(/=(.*)/s);
  const value = () => inline ?? process.argv[++i];
  if (flag === 'pending') o.pending = Number(value());
  else if (flag === 'repeat') o.repeat = Number(value());
  else if (flag === 'work') o.work = value();
  else if (flag === 'out') o.out = value();
  else if (flag === 'keep') o.keep = true;
  else throw new Error(`unknown flag ${process.argv[i]}`);
}
const log = (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

function get(port, path) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const server = Number(/dur=([\d.]+)/.exec(res.headers['server-timing'] ?? '')?.[1] ?? NaN);
        resolve({
          status: res.statusCode,
          body: Buffer.concat(chunks).toString(),
          server,
          total: performance.now() - t0,
        });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${ms.toFixed(1)} ms`;

const { db } = await buildDb({ pending: o.pending }, o.work, log);
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const child = spawn(process.execPath, [cli, 'serve', '-db', db], { stdio: ['ignore', 'pipe', 'inherit'] });
let port;
try {
  port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      const m = /127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
  // The overview answers at once; the current-graph counts come from the worker, seconds later on a big db.
  const first = await get(port, '/api/overview');
  log(`first overview: ${fmt(first.server)} (counts not in yet: ${JSON.parse(first.body).status.status === null})`);
  let st;
  const t0 = performance.now();
  while (!(st = JSON.parse((await get(port, '/api/overview')).body).status).status)
    await new Promise((r) => setTimeout(r, 200));
  log(`counts ready after ${fmt(performance.now() - t0)} (the worker took ${st.tookMs} ms; exact: ${st.status.exact})`);
  const work = JSON.parse((await get(port, '/api/task/work/steps?status=pending')).body).steps;
  const mid = work[0].id + Math.floor(o.pending / 2);
  const hash = work[0].inputHash;
  const cases = [
    ['overview JSON (graph, counts from the worker, runs)', '/api/overview'],
    ['task page: versions, spec', '/api/task/work'],
    ['task page: first 100 steps, all statuses', '/api/task/work/steps'],
    ['task page: 100 pending steps from the middle (keyset)', `/api/task/work/steps?status=pending&after=${mid}`],
    ['task page: 100 steps before the middle (keyset, backwards)', `/api/task/work/steps?before=${mid}`],
    ['step page (with its outputs and log)', `/api/step/${mid}`],
    ['object page (usage, preview)', `/api/object/${hash.slice(0, 8)}`],
    ['lineage of an object', `/api/lineage/${hash}`],
    [`search by output name (bounded scan)`, '/api/search?q=item-0999999'],
  ];
  const rows = [];
  for (const [what, path] of cases) {
    const server = [];
    const total = [];
    for (let i = 0; i < o.repeat; i++) {
      const r = await get(port, path);
      if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.body}`);
      server.push(r.server);
      total.push(r.total);
    }
    rows.push(
      `| ${what} | \`${path.replace(/\d{6,}/g, 'N').replace(/[0-9a-f]{8,}/g, 'HASH')}\` | ${fmt(median(server))} | ${fmt(Math.max(...server))} | ${fmt(median(total))} |`,
    );
    log(`${what}: server median ${fmt(median(server))}, max ${fmt(Math.max(...server))}`);
  }
  const m = machine();
  const text = `# serve on a db of ${o.pending.toLocaleString('en')} pending steps

\`node bench/serve.js\` (${new Date().toISOString().slice(0, 10)}; ${m.cores} cores, Node ${m.node}): the db is B4's (a root step
whose outputs are ${o.pending.toLocaleString('en')} pending \`work\` steps). Server time is the server's own
\`Server-Timing\` (open the db read-only, query, close, JSON), ${o.repeat} requests each, one at a time; round trip
adds the HTTP client on the same machine. Target: under 200 ms for the overview and a task page.

The per-task counts are computed off the request path by a worker thread, and the overview serves its latest
result: on this db (${st.status.exact ? 'exact: the current graph walked' : "over 100,000 steps: each current version's steps counted by status on its index"})
they took ${st.tookMs} ms; the worker recounts only when the db has changed, at most every ${((2 * st.tookMs) / 1000).toFixed(1)} s here.

| request | path | server median | server max | round trip median |
|---|---|---|---|---|
${rows.join('\n')}
`;
  writeFileSync(o.out, text);
  console.log(`\n${text}`);
  log(`written to ${o.out}`);
} finally {
  child.kill('SIGTERM');
  if (!o.keep) rmSync(o.work, { recursive: true, force: true });
}
