// One seed, end to end: generate the case, then for each run apply its changes (input files, `inputs rm`,
// the manifest), run the engine, compute the reference over the same current inputs, and compare every
// task's current outputs (ls -json: name, from, hash) and the export of the tasks (export -out DIR).

import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  unlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { generateCase, manifestText, resolveTasks } from './generate.js';
import { computeReference, compareEntries, outputEntries, sha256 } from './reference.js';
import { inspectCli, spawnCli } from './cli.js';
import { pgTarget, sqliteTarget } from './target.js';

export const reproduceCommand = (seed, pg = false) =>
  `node test/differential/run.js --seed ${seed}${pg ? ' --pg' : ''}`;

const show = (bytes, max = 60) => {
  const s = JSON.stringify(bytes.toString('utf8'));
  return s.length > max ? `${s.slice(0, max)}..." (${bytes.length} B)` : s;
};

function walk(dir, prefix = '') {
  const out = new Map();
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) for (const [k, v] of walk(join(dir, e.name), rel)) out.set(k, v);
    else out.set(rel, readFileSync(join(dir, e.name)));
  }
  return out;
}

/** A line diff (LCS) of two small texts, as "-"/"+"/" " lines. */
export function lineDiff(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  const n = x.length;
  const m = y.length;
  const L = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      out.push(`  ${JSON.stringify(x[i]).slice(1, -1)}`);
      i++;
      j++;
    } else if (j < m && (i === n || L[i][j + 1] >= L[i + 1][j])) out.push(`+ ${JSON.stringify(y[j++]).slice(1, -1)}`);
    else out.push(`- ${JSON.stringify(x[i++]).slice(1, -1)}`);
  }
  return out;
}

/** At most `max` lines of a text. */
const clip = (text, max = 30) => {
  const lines = text.trimEnd().split('\n');
  return lines.length <= max
    ? lines.join('\n')
    : [...lines.slice(0, max), `... (${lines.length - max} more lines)`].join('\n');
};

const key = (e) => `${e.name}\t${e.from}\t${e.hash}`;

/** Multiset difference: entries of a not matched by one in b. */
function minus(a, b) {
  const counts = new Map();
  for (const e of b) counts.set(key(e), (counts.get(key(e)) ?? 0) + 1);
  const out = [];
  for (const e of a) {
    const c = counts.get(key(e)) ?? 0;
    if (c > 0) counts.set(key(e), c - 1);
    else out.push(e);
  }
  return out;
}

/**
 * Where `export` must put each output: NAME when one step of the task produced NAME, else FROM/NAME
 * (FROM '' as `_`). A path that collides with another path, or with a directory another path needs, gets
 * `~` + 8 hex of the hash: a path only needed as a directory by another entry is expected there. When
 * several entries want one path, which one keeps it, and what equal bytes under one path become, is not
 * specified: for those (`ambiguous`), any file at the path or at `path~<hex>` holding the bytes will do.
 */
export function expectedExport(entries) {
  const stepsPerName = new Map();
  for (const e of entries) stepsPerName.set(e.name, (stepsPerName.get(e.name) ?? 0) + 1);
  const wanted = entries.map((e) => ({
    e,
    path: stepsPerName.get(e.name) === 1 ? e.name : `${e.from === '' ? '_' : e.from}/${e.name}`,
  }));
  const perPath = new Map();
  const dirs = new Set();
  for (const w of wanted) {
    perPath.set(w.path, (perPath.get(w.path) ?? 0) + 1);
    for (let i = w.path.indexOf('/'); i >= 0; i = w.path.indexOf('/', i + 1)) dirs.add(w.path.slice(0, i));
  }
  return wanted.map((w) => {
    if (perPath.get(w.path) > 1)
      return { ...w, accept: [w.path, `${w.path}~${w.e.hash.slice(0, 8)}`], ambiguous: true };
    if (dirs.has(w.path)) return { ...w, accept: [`${w.path}~${w.e.hash.slice(0, 8)}`], ambiguous: false };
    return { ...w, accept: [w.path], ambiguous: false };
  });
}

/** Problems (strings) of an exported tree against the expected layout. */
export function checkExport(expected, tree) {
  const problems = [];
  const used = new Set();
  const holds = (p, x) => tree.has(p) && sha256(tree.get(p)) === x.e.hash;
  // Exact places first, then the ambiguous ones (which may take any free variant of their path).
  for (const x of expected.filter((y) => !y.ambiguous)) {
    const at = x.accept.find((p) => holds(p, x));
    if (at !== undefined) used.add(at);
    else {
      const found = x.accept.filter((p) => tree.has(p)).map((p) => `${p} holds ${show(tree.get(p))}`);
      problems.push(
        `output ${x.e.name} from ${x.e.from} (${show(x.e.bytes)}) should be at ${x.accept.join(' or ')}${found.length ? `; ${found.join('; ')}` : ': no such file'}`,
      );
    }
  }
  const ambiguous = expected.filter((y) => y.ambiguous);
  const candidates = (x) => [...tree.keys()].filter((p) => (p === x.path || p.startsWith(`${x.path}~`)) && holds(p, x));
  for (const x of ambiguous) {
    const c = candidates(x);
    const at = c.find((p) => !used.has(p)) ?? c[0];
    if (at !== undefined) used.add(at);
    else
      problems.push(
        `output ${x.e.name} from ${x.e.from} (${show(x.e.bytes)}) should be at ${x.path} or ${x.path}~<hash>: no such file`,
      );
  }
  for (const [p, b] of tree) {
    if (used.has(p)) continue;
    // A second file for equal bytes under a shared path: allowed (the rules do not say).
    if (ambiguous.some((x) => p.startsWith(`${x.path}~`) && sha256(b) === x.e.hash)) continue;
    problems.push(`unexpected file ${p} (${show(b)})`);
  }
  return problems;
}

/**
 * Run one seed. Options: verbose (print everything through `log`), keep (leave the temp dir), parallel,
 * pg (a cluster from test/pg-cluster.js: run on PostgreSQL with workers, see target.js).
 * Resolves { seed, ok, failure (a message, or null), runs, comparisons, exportsChecked, exportsPartial }.
 */
export async function runSeed(
  seed,
  { verbose = false, log = console.log, keep = false, parallel = 2, pg = null } = {},
) {
  const c = generateCase(seed);
  const ws = mkdtempSync(join(tmpdir(), `tp-diff-${seed}-`));
  const manifest = join(ws, 'm.toml');
  let target = null;
  const stats = {
    seed,
    ok: true,
    failure: null,
    runs: 0,
    comparisons: 0,
    exportsChecked: 0,
    exportsPartial: 0,
    dir: ws,
    time: { engine: 0, reference: 0, compare: 0 },
    refSteps: 0,
    retiresSkipped: 0,
  };
  const say = verbose ? log : () => {};
  // One seed in ten lets its input files settle before each run (older than the stat cache's 2 s
  // racy margin), so a directory given again unchanged is skipped whole, and ingests its directories
  // in batches of 3 files (TASK_PIPELINE_INGEST_BATCH): both are compared with the model too.
  let settle = seed % 10 === 0;
  const current = new Map(); // the current run inputs: name -> Buffer
  const where = pg ? ' on PostgreSQL' : '';
  const fail = (run, what) => {
    stats.ok = false;
    stats.failure = `seed ${seed}${where}, run ${run + 1} of ${c.runs.length}${what}\nreproduce: ${reproduceCommand(seed, pg)}`;
  };
  try {
    target = pg ? await pgTarget(ws, pg, seed) : sqliteTarget(ws);
    settle &&= target.statCache;
    const runEnv = { ...target.runEnv, ...(settle ? { TASK_PIPELINE_INGEST_BATCH: '3' } : {}) };
    if (target.mode) say(`${target.name}: ${target.mode}`);
    await target.start();
    for (let ri = 0; ri < c.runs.length; ri++) {
      const run = c.runs[ri];
      say(`\n=== seed ${seed}, run ${ri + 1} of ${c.runs.length}: ${run.changes.join('; ')}`);
      for (const op of run.fsOps) {
        const p = join(ws, op.where, op.path);
        if (op.op === 'write') {
          mkdirSync(dirname(p), { recursive: true });
          writeFileSync(p, op.content);
          say(`  ${op.where}/${op.path} := ${JSON.stringify(op.content)}`);
        } else {
          unlinkSync(p);
          say(`  rm ${op.where}/${op.path}`);
        }
      }
      if (run.retire.length > 0) {
        say(`  $ task-pipeline inputs rm ${run.retire.join(' ')}`);
        const r = await target.retire(run.retire);
        if (r.skipped) {
          stats.retiresSkipped++;
          say(`  (${target.name} has no inputs rm yet: ${run.retire.join(' ')} stay current)`);
        } else if (r.code !== 0) {
          fail(ri, `: inputs rm ${run.retire.join(' ')} exited ${r.code ?? r.signal}\n${clip(r.stderr)}`);
          return stats;
        } else for (const n of run.retire) current.delete(n);
      }
      const text = manifestText(run.tasks);
      writeFileSync(manifest, text);
      const inputArgs = [];
      for (const a of run.inputArgs) {
        if (a.kind === 'dir') {
          inputArgs.push('-input', join(ws, 'in'));
          for (const [name, bytes] of walk(join(ws, 'in'))) current.set(name, bytes);
        } else {
          inputArgs.push('-input', join(ws, 'extra', a.path));
          current.set(a.path.split('/').pop(), readFileSync(join(ws, 'extra', a.path)));
        }
      }
      if (verbose) {
        say(`--- manifest\n${text}---`);
        say(`current inputs (${current.size}):`);
        for (const [n, b] of [...current].sort(([a], [b]) => (a < b ? -1 : 1))) say(`  ${n}  ${show(b)}`);
      }
      const args = ['-manifest', manifest, ...target.runArgs(parallel), ...inputArgs, '-quiet'];
      say(`  $ task-pipeline ${args.join(' ')}${settle ? '  (inputs settled, every directory summed up)' : ''}`);
      if (settle) await new Promise((r) => setTimeout(r, 2100));
      let t0 = performance.now();
      const r = await spawnCli(args, { env: runEnv });
      stats.time.engine += performance.now() - t0;
      stats.runs++;
      if (r.stderr.trim() !== '') say(r.stderr.trimEnd().replace(/^/gm, '  engine stderr: '));
      if (r.code !== 0) {
        fail(ri, `: the engine exited ${r.code ?? r.signal} (expected 0)\n${clip(r.stderr)}`);
        return stats;
      }

      const tasks = resolveTasks(run.tasks);
      t0 = performance.now();
      const ref = await computeReference(tasks, current, { cwd: ws, scratch: ws });
      stats.time.reference += performance.now() - t0;
      for (const v of ref.values()) stats.refSteps += v.steps.length;
      t0 = performance.now();
      const problems = await target.afterRun();
      for (const t of tasks) {
        const expected = outputEntries(ref.get(t.name));
        const ls = await inspectCli(['ls', ...target.lsArgs, '-task', t.name, '-json']);
        if (ls.code !== 0) {
          problems.push(`task ${t.name}: ls exited ${ls.code}: ${ls.stderr.trim()}`);
          continue;
        }
        let actual;
        try {
          actual = JSON.parse(ls.stdout.toString('utf8')).map((o) => ({ name: o.name, from: o.from, hash: o.hash }));
        } catch (e) {
          problems.push(`task ${t.name}: ls -json is not JSON (${e.message})`);
          continue;
        }
        actual.sort(compareEntries);
        stats.comparisons++;
        const missing = minus(expected, actual);
        const extra = minus(actual, expected);
        if (missing.length === 0 && extra.length === 0) {
          say(`  ok   ${t.name}: ${expected.length} output${expected.length === 1 ? '' : 's'} as the reference`);
          if (verbose)
            for (const e of expected)
              say(`         ${e.name}  from ${JSON.stringify(e.from)}  ${e.hash.slice(0, 12)}  ${show(e.bytes)}`);
        } else {
          problems.push(await describeMismatch(target, t, ref.get(t.name), missing, extra));
          continue;
        }
        // The export of the task against the layout the rules give.
        const out = join(ws, `export-${ri + 1}-${t.name}`);
        const ex = await inspectCli(['export', ...target.exportArgs, '-task', t.name, '-out', out]);
        if (ex.code !== 0) {
          problems.push(`task ${t.name}: export exited ${ex.code}: ${ex.stderr.trim()}`);
          continue;
        }
        const layout = expectedExport(expected);
        const exProblems = checkExport(layout, walk(out));
        stats.exportsChecked++;
        if (layout.some((x) => x.ambiguous)) stats.exportsPartial++;
        if (exProblems.length > 0)
          problems.push(
            `task ${t.name}: export -out differs from the expected layout:\n    ${exProblems.join('\n    ')}`,
          );
        else
          say(
            `  ok   ${t.name}: export (${layout.length} file${layout.length === 1 ? '' : 's'}${layout.some((x) => x.ambiguous) ? ', some paths shared: either form accepted' : ''})`,
          );
        rmSync(out, { recursive: true, force: true });
      }
      stats.time.compare += performance.now() - t0;
      if (problems.length > 0) {
        fail(ri, ` (changes before it: ${run.changes.join('; ')}):\n${problems.join('\n')}`);
        return stats;
      }
    }
    return stats;
  } catch (err) {
    stats.ok = false;
    stats.failure = `seed ${seed}${where}: ${err?.stack ?? err}\nreproduce: ${reproduceCommand(seed, pg)}`;
    return stats;
  } finally {
    // The workers are stopped before their store goes; what they say on the way out counts too.
    const problems = target ? await target.stop() : [];
    if (problems.length > 0 && stats.ok) {
      stats.ok = false;
      stats.failure = `seed ${seed}${where}, at the end:\n${problems.join('\n')}\nreproduce: ${reproduceCommand(seed, pg)}`;
    }
    if (!keep) rmSync(ws, { recursive: true, force: true });
  }
}

async function describeMismatch(target, task, refResult, missing, extra) {
  const lines = [`task ${task.name}${task.gather ? ' (gather)' : ''}: outputs differ from the reference`];
  if (missing.length > 0) {
    lines.push('  the reference has, the engine has not:');
    for (const e of missing)
      lines.push(`    ${e.name}  from ${JSON.stringify(e.from)}  ${e.hash.slice(0, 12)}  ${show(e.bytes)}`);
  }
  if (extra.length > 0) {
    lines.push('  the engine has, the reference has not:');
    for (const e of extra) {
      const b = await target.bytes(e.hash);
      lines.push(
        `    ${e.name}  from ${JSON.stringify(e.from)}  ${String(e.hash).slice(0, 12)}  ${b ? show(b) : '(cat failed)'}`,
      );
    }
  }
  // A line diff where both sides have an output under the same name and from.
  for (const m of missing) {
    const x = extra.find((e) => e.name === m.name && e.from === m.from) ?? extra.find((e) => e.name === m.name);
    if (!x) continue;
    const b = await target.bytes(x.hash);
    if (!b) continue;
    lines.push(`  diff of ${m.name} from ${JSON.stringify(m.from)} (- reference, + engine):`);
    for (const l of lineDiff(m.bytes.toString('utf8'), b.toString('utf8'))) lines.push(`    ${l}`);
  }
  if (task.gather && refResult.listing) {
    lines.push('  the reference listing:');
    for (const l of refResult.listing.toString('utf8').split('\n').filter(Boolean)) lines.push(`    ${l}`);
    lines.push(`  the reference INPUT_DIR: ${refResult.dirNames.join(' ')}`);
  }
  return lines.join('\n');
}
