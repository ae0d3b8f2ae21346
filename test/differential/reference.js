// The reference: a plain, stateless computation of a pipeline over the current inputs. No db, no cache:
// every step of every task runs its script again, directly, in fresh temp dirs, in dependency order.
// It implements the semantics the engine must have (items, match globs, gather listings, INPUT_DIR names)
// from their description, independently of the engine's code.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

const basename = (name) => name.slice(name.lastIndexOf('/') + 1);

// ---------------------------------------------------------------------------------------------------
// match globs: `*` and `?` never cross "/", `**` does, `[a-z]` / `[!a]` classes (never "/"); a pattern
// without "/" is matched against the basename only; the whole subject must match.

export function globRegex(pattern) {
  let re = '';
  for (let i = 0; i < pattern.length;) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i += 2;
    } else if (c === '*') {
      re += '[^/]*';
      i += 1;
    } else if (c === '?') {
      re += '[^/]';
      i += 1;
    } else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) throw new Error(`reference glob: unclosed [ in ${pattern}`);
      let body = pattern.slice(i + 1, close);
      const negate = body[0] === '!' || body[0] === '^';
      if (negate) body = body.slice(1);
      const esc = body.replace(/[\\\]^[]/g, (m) => `\\${m}`);
      re += negate ? `[^/${esc}]` : `(?!/)[${esc}]`;
      i = close + 1;
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\/-]/g, (m) => `\\${m}`);
      i += 1;
    }
  }
  return new RegExp(`^${re}$`, 's');
}

export function passes(match, name) {
  if (match === undefined || match === null) return true;
  return match.some((p) => globRegex(p).test(p.includes('/') ? name : basename(name)));
}

// ---------------------------------------------------------------------------------------------------
// The gather's listing and its INPUT_DIR names.

/** `HASH<TAB>NAME<TAB>FROM` per (upstream step, output) passing match, sorted bytewise, duplicates kept. */
export function listingLines(entries) {
  const lines = entries.map((e) => Buffer.from(`${sha256(e.bytes)}\t${e.name}\t${e.from}`, 'utf8'));
  lines.sort(Buffer.compare);
  return lines.map((b) => b.toString('utf8'));
}

const flat = (s) => s.replaceAll('/', '_');

/** The INPUT_DIR file name of each listing line, in listing order. */
export function inputDirNames(lines) {
  const taken = new Set();
  return lines.map((line) => {
    const [, name, from] = line.split('\t');
    const base = from === '' ? flat(name) : `${flat(from)}__${flat(name)}`;
    let n = base;
    for (let k = 2; taken.has(n); k++) n = `${k}-${base}`;
    taken.add(n);
    return n;
  });
}

// ---------------------------------------------------------------------------------------------------
// Running one script.

function walkFiles(dir, prefix = '') {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) out.push(...walkFiles(join(dir, e.name), rel));
    else if (e.isFile()) out.push(rel);
    else throw new Error(`reference: ${rel} in OUTPUT_DIR is not a regular file`);
  }
  return out;
}

function runShell(argv, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

const q = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;

let counter = 0;

/**
 * Prepare one step of a task: its INPUT_FILE (and a gather's INPUT_DIR), an empty OUTPUT_DIR, a TMPDIR,
 * and the shell line that runs the script with its environment. `input` is { name, bytes } for a
 * per-item step, or a gather's listing with its INPUT_DIR files.
 */
function prepareStep(task, input, ctx) {
  const dir = join(ctx.scratch, `s${++counter}`);
  const inDir = join(dir, 'in');
  const outDir = join(dir, 'out');
  const tmp = join(dir, 'tmp');
  for (const d of [inDir, outDir, tmp]) mkdirSync(d, { recursive: true });
  const inputFile = join(inDir, basename(input.name) || 'input');
  writeFileSync(inputFile, input.bytes);
  chmodSync(inputFile, 0o444);
  const env = {
    INPUT_FILE: inputFile,
    INPUT_NAME: input.name,
    INPUT_HASH: sha256(input.bytes),
    OUTPUT_DIR: outDir,
    TMPDIR: tmp,
    TASK_NAME: task.name,
  };
  if (input.dirFiles) {
    const gdir = join(dir, 'gather');
    mkdirSync(gdir);
    for (const f of input.dirFiles) {
      writeFileSync(join(gdir, f.name), f.bytes);
      chmodSync(join(gdir, f.name), 0o444);
    }
    env.INPUT_DIR = gdir;
  }
  // A subshell: exported variables, then exec the task's shell with the script as its last argument.
  const exports = Object.entries(env)
    .map(([k, v]) => `${k}=${q(v)}`)
    .join(' ');
  const line = `( unset INPUT_DIR STEP_ID; export ${exports}; exec ${[...task.shell, task.script].map(q).join(' ')} ) </dev/null 2>${q(join(dir, 'stderr'))}; echo $? > ${q(join(dir, 'rc'))}`;
  return { task, input, dir, outDir, line };
}

/**
 * Run prepared steps: a few bash drivers, each running its share of the steps one after the other
 * (one node spawn per driver rather than per step: spawning from node costs several ms each).
 */
async function runSteps(steps, ctx) {
  const drivers = Array.from({ length: Math.min(ctx.concurrency, steps.length) }, () => []);
  steps.forEach((s, i) => drivers[i % drivers.length].push(s.line));
  await Promise.all(
    drivers.map(async (lines, i) => {
      const file = join(ctx.scratch, `driver-${++counter}-${i}.sh`);
      writeFileSync(file, `${lines.join('\n')}\n`);
      const r = await runShell(['bash', file], ctx.cwd);
      if (r.code !== 0) throw new Error(`reference: driver ${file} exited ${r.code ?? r.signal}: ${r.stderr}`);
    }),
  );
  return steps.map((s) => {
    const rc = readFileSync(join(s.dir, 'rc'), 'utf8').trim();
    if (rc !== '0') {
      throw new Error(
        `reference: task ${s.task.name} over ${JSON.stringify(s.input.name)} exited ${rc}: ${readFileSync(join(s.dir, 'stderr'), 'utf8').trim()}`,
      );
    }
    const outputs = walkFiles(s.outDir)
      .sort()
      .map((name) => ({ name, bytes: readFileSync(join(s.outDir, name)) }));
    if (!ctx.keep) rmSync(s.dir, { recursive: true, force: true });
    return outputs;
  });
}

function topoOrder(tasks) {
  const byName = new Map(tasks.map((t) => [t.name, t]));
  const order = [];
  const state = new Map();
  const visit = (t) => {
    if (state.get(t.name) === 'done') return;
    if (state.get(t.name) === 'visiting') throw new Error(`reference: cycle through ${t.name}`);
    state.set(t.name, 'visiting');
    for (const u of t.inputs) {
      const up = byName.get(u);
      if (!up) throw new Error(`reference: task ${t.name} lists unknown input ${u}`);
      visit(up);
    }
    state.set(t.name, 'done');
    order.push(t);
  };
  tasks.forEach(visit);
  return order;
}

/**
 * The whole pipeline over the current inputs (a Map name -> Buffer). `tasks`: [{ name, inputs (explicit
 * list), match, gather, script, shell }]. Returns a Map task name -> [{ from, outputs: [{ name, bytes }] }]
 * (one entry per step), plus, for gathers, the listing it ran over.
 */
export async function computeReference(tasks, inputs, { cwd, scratch, concurrency = 2, keep = false }) {
  const ctx = { cwd, scratch: mkdtempSync(join(scratch, 'ref-')), keep, concurrency };
  const results = new Map();
  try {
    for (const task of topoOrder(tasks)) {
      // Every (upstream step, output) that passes match, with the name of the item that step processed.
      const upstream = [];
      for (const u of task.inputs) {
        for (const step of results.get(u).steps) {
          for (const o of step.outputs)
            if (passes(task.match, o.name)) upstream.push({ name: o.name, bytes: o.bytes, from: step.from });
        }
      }
      if (task.gather) {
        const lines = listingLines(upstream);
        const listing = Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
        const byHash = new Map(upstream.map((e) => [sha256(e.bytes), e.bytes]));
        const names = inputDirNames(lines);
        const dirFiles = lines.map((l, i) => ({ name: names[i], bytes: byHash.get(l.split('\t')[0]) }));
        const [outputs] = await runSteps([prepareStep(task, { name: 'listing', bytes: listing, dirFiles }, ctx)], ctx);
        results.set(task.name, { steps: [{ from: 'listing', outputs }], listing, dirNames: names });
      } else {
        let items;
        if (task.inputs.length === 0) {
          items = [...inputs].map(([name, bytes]) => ({ name, bytes }));
        } else {
          const seen = new Map();
          for (const e of upstream) seen.set(`${e.name}\0${sha256(e.bytes)}`, { name: e.name, bytes: e.bytes });
          items = [...seen.values()];
        }
        items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : Buffer.compare(a.bytes, b.bytes)));
        const outputs = await runSteps(
          items.map((item) => prepareStep(task, item, ctx)),
          ctx,
        );
        const steps = items.map((item, i) => ({ from: item.name, item, outputs: outputs[i] }));
        results.set(task.name, { steps });
      }
    }
  } finally {
    if (!keep) rmSync(ctx.scratch, { recursive: true, force: true });
  }
  return results;
}

/** One entry per (step, output): { name, from, hash, bytes }, sorted. */
export function outputEntries(taskResult) {
  const out = [];
  for (const s of taskResult.steps)
    for (const o of s.outputs) out.push({ name: o.name, from: s.from, hash: sha256(o.bytes), bytes: o.bytes });
  return out.sort(compareEntries);
}

export function compareEntries(a, b) {
  return a.name < b.name
    ? -1
    : a.name > b.name
      ? 1
      : a.from < b.from
        ? -1
        : a.from > b.from
          ? 1
          : a.hash < b.hash
            ? -1
            : a.hash > b.hash
              ? 1
              : 0;
}
