// The seeded generator: from a seed, a random pipeline (a DAG of 2-5 tasks), a random input directory
// and a sequence of 3-4 runs with changes between them (input edits, additions, retirements, script edits
// and their undo, an added task, a run with nothing changed). Everything here is plain data, so the
// harness can print it; the same seed always gives the same case.

import { rng } from './prng.js';

/** The shell the engine uses when a task gives none (`bash -euo pipefail -c SCRIPT`). */
export const DEFAULT_SHELL = ['bash', '-euo', 'pipefail', '-c'];

const WORDS = ['apple', 'kiwi', 'fig', 'plum', 'lime', 'date', 'pear', 'nut', 'Oak', 'elm'];
const NAME_POOL = [
  'a.txt',
  'b.txt',
  'c.num',
  'd',
  'sub/e.txt',
  'sub/a.txt',
  'sub/deep/f.txt',
  'notes.md',
  'g.txt',
  'h.num',
];
const NEW_NAME_POOL = ['k.txt', 'new/l.txt', 'm.num', 'sub/n.txt', 'o', 'sub/deep/p.txt', 'q.txt'];
const SOLO_POOL = ['solo.txt', 'one.num', 'a.txt', 'b.txt'];

// Every task kind: `gather` or not, its knobs (constants an edit changes; the first value of each list
// is not special), fixed choices made once, and the script. Every script is deterministic and exits 0
// on any input (empty files, no trailing newline, an empty INPUT_DIR).
const KINDS = {
  // Most scripts start one program or none (bash builtins): every exec costs several ms of CPU, and the
  // suite runs each script twice (engine and reference) for 50 seeds.
  upper: {
    knobs: { hi: ['z', 'm', 'e'] },
    fixed: { out: ['up.txt', 'n'] },
    script: (p) => `tr a-${p.hi} A-${p.hi.toUpperCase()} < "$INPUT_FILE" > "$OUTPUT_DIR/${p.out}"\n`,
  },
  sed: {
    knobs: { d: ['0', '1', '2', '7'] },
    fixed: { out: ['v.txt', 'n'] },
    script: (p) => `sed 's/[aeiou]/${p.d}/g' "$INPUT_FILE" > "$OUTPUT_DIR/${p.out}"\n`,
  },
  rev: {
    knobs: { k: ['1', '2', '4'] },
    fixed: { pipe: [false, false, true] },
    script: (p) =>
      p.pipe
        ? `rev "$INPUT_FILE" | sed -n '1,${p.k}p' > "$OUTPUT_DIR/r.txt"\n`
        : `sed -n '1,${p.k}p' "$INPUT_FILE" > "$OUTPUT_DIR/r.txt"\nrev "$INPUT_FILE" > "$OUTPUT_DIR/rev.txt"\n`,
  },
  count: {
    knobs: { opt: ['-l', '-w', '-c'] },
    fixed: { pipe: [false, false, true] },
    // wc -l counts newlines: a last line without one is not counted.
    script: (p) =>
      p.pipe
        ? `wc ${p.opt} < "$INPUT_FILE" | awk '{print $1 + 1}' > "$OUTPUT_DIR/n"\n`
        : `wc ${p.opt} < "$INPUT_FILE" > "$OUTPUT_DIR/n"\n`,
  },
  fields: {
    knobs: { k: ['1', '2', '3'] },
    fixed: {},
    script: (p) => `awk '{print NF * ${p.k}, $1}' "$INPUT_FILE" > "$OUTPUT_DIR/f.txt"\n`,
  },
  split: {
    knobs: { l: ['1', '2'] },
    fixed: { layout: ['flat', 'flat', 'nested', 'top'] },
    script: (p) =>
      p.layout === 'flat'
        ? `mkdir -p "$OUTPUT_DIR/parts"\nsplit -l ${p.l} "$INPUT_FILE" "$OUTPUT_DIR/parts/p-"\n`
        : p.layout === 'top'
          ? `split -l ${p.l} "$INPUT_FILE" "$OUTPUT_DIR/p-"\n`
          : `d="$OUTPUT_DIR/parts/$(basename "$INPUT_NAME" .txt)"\nmkdir -p "$d"\nsplit -l ${p.l} "$INPUT_FILE" "$d/p-"\n`,
  },
  tag: {
    knobs: { w: ['x', 'y', 'z'] },
    fixed: {},
    script: (p) => `{ echo "${p.w}:$INPUT_NAME"; cat "$INPUT_FILE"; } > "$OUTPUT_DIR/tagged.txt"\n`,
  },
  rename: {
    knobs: { suf: ['.m', '.k'] },
    fixed: {},
    script: (p) =>
      `case "$INPUT_NAME" in */*) mkdir -p "$OUTPUT_DIR/\${INPUT_NAME%/*}" ;; esac\nsed 's/^/> /' "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME${p.suf}"\n`,
  },
  hash: {
    knobs: { k: ['1', '2', '3'] },
    fixed: {},
    script: (p) =>
      `echo "$INPUT_HASH ${p.k}" > "$OUTPUT_DIR/h.txt"\necho "\${INPUT_FILE##*/}" > "$OUTPUT_DIR/base.txt"\n`,
  },
  nonempty: {
    knobs: { k: ['0', '2', '4'] },
    fixed: {},
    script: (p) =>
      `if [ -s "$INPUT_FILE" ]; then\n  awk 'length($0) > ${p.k}' "$INPUT_FILE" > "$OUTPUT_DIR/long.txt"\nfi\n`,
  },
  num: {
    knobs: { k: ['1', '2', '5'] },
    fixed: {},
    script: (p) => `awk '{s += length($0)} END {print s * ${p.k}}' "$INPUT_FILE" > "$OUTPUT_DIR/len.num"\n`,
  },
  // Gathers.
  sum: {
    gather: true,
    knobs: { k: ['0', '1', '10'] },
    // cat joins a file without a last newline to the next one; awk over the files does not.
    fixed: { cat: [true, false, false] },
    script: (p) =>
      p.cat
        ? `shopt -s nullglob\ncat /dev/null "$INPUT_DIR"/* | awk '{s+=$1} END {print s+${p.k}}' > "$OUTPUT_DIR/total"\n`
        : `shopt -s nullglob\nawk '{s+=$1} END {print s+${p.k}}' /dev/null "$INPUT_DIR"/* > "$OUTPUT_DIR/total"\n`,
  },
  concat: {
    gather: true,
    knobs: { flag: ['', ' -r'] },
    fixed: {},
    script: (p) => `shopt -s nullglob\nLC_ALL=C sort${p.flag} /dev/null "$INPUT_DIR"/* > "$OUTPUT_DIR/all.txt"\n`,
  },
  names: {
    gather: true,
    knobs: { flag: ['', ' -r'] },
    fixed: {},
    script: (p) => `LC_ALL=C ls${p.flag} "$INPUT_DIR" > "$OUTPUT_DIR/names.txt"\n`,
  },
  listing: {
    gather: true,
    knobs: { v: ['1', '2'] },
    fixed: {},
    script: (p) =>
      `cp "$INPUT_FILE" "$OUTPUT_DIR/listing.tsv"\necho "$INPUT_NAME \${INPUT_FILE##*/} ${p.v}" > "$OUTPUT_DIR/meta.txt"\n`,
  },
  gsplit: {
    gather: true,
    knobs: { l: ['1', '2'] },
    fixed: {},
    script: (p) => `cut -f2 "$INPUT_FILE" | split -l ${p.l} - "$OUTPUT_DIR/g-"\n`,
  },
  gcount: {
    gather: true,
    knobs: { opt: ['-l', '-c'] },
    fixed: {},
    script: (p) => `wc ${p.opt} < "$INPUT_FILE" > "$OUTPUT_DIR/n"\n`,
  },
};

const MAP_KINDS = Object.keys(KINDS).filter((k) => !KINDS[k].gather);
const GATHER_KINDS = Object.keys(KINDS).filter((k) => KINDS[k].gather);
// Patterns that select some of the outputs of a kind of task (a match is mostly drawn from these).
const RELEVANT = {
  upper: (f) => [f.out, '*.txt', 'u*'],
  sed: (f) => [f.out, '*.txt'],
  rev: () => ['*.txt', 'r.*', 'rev*'],
  count: () => ['n'],
  fields: () => ['*.txt', '[a-m]*'],
  split: (f) =>
    f.layout === 'flat'
      ? ['parts/*', 'p-*', 'p-a?', 'parts/**', '*b']
      : f.layout === 'top'
        ? ['p-*', 'p-a?', '*a']
        : ['parts/**', 'p-*', 'parts/*/p-a?', 'parts/[a-m]*/*'],
  tag: () => ['*.txt', 't*'],
  rename: () => ['*.m', '*.k', 'sub/**', '*.txt*', '[a-c]*'],
  hash: () => ['h.txt', 'base.txt', '[a-h]*.txt'],
  nonempty: () => ['*.txt', 'long*'],
  num: () => ['*.num'],
  sum: () => ['total'],
  concat: () => ['*.txt'],
  names: () => ['names.txt'],
  listing: () => ['*.tsv', 'meta.txt'],
  gsplit: () => ['g-*', 'g-a?'],
  gcount: () => ['n'],
};
const PATTERNS = [
  '*.txt',
  'p-*',
  'parts/*',
  'parts/**',
  'n',
  '[a-m]*',
  '*.num',
  'p-a?',
  '*.m',
  'sub/*',
  'total',
  '**.txt',
  'g-*',
  '[!n]*',
];

/** The script of a task spec (its kind's script with its knobs, after an optional cosmetic line). */
export function scriptOf(task) {
  const body = KINDS[task.kind].script({ ...task.fixed, ...task.knobs });
  return task.cosmetic ? `: version ${task.cosmetic}\n${body}` : body;
}

/** The shell argv prefix a task runs with. */
export function shellOf(task) {
  return task.shell ?? DEFAULT_SHELL;
}

/** The tasks in the form the reference needs: explicit inputs, script, shell. */
export function resolveTasks(tasks) {
  return tasks.map((t, i) => ({
    name: t.name,
    inputs: t.inputs === undefined ? (i === 0 ? [] : [tasks[i - 1].name]) : [...t.inputs],
    match: t.match,
    gather: Boolean(KINDS[t.kind].gather),
    script: scriptOf(t),
    shell: shellOf(t),
  }));
}

/** The manifest text (TOML) of a task list. */
export function manifestText(tasks) {
  const out = [];
  for (const t of tasks) {
    out.push('[[task]]');
    out.push(`name = ${JSON.stringify(t.name)}`);
    if (t.inputs !== undefined) out.push(`inputs = [${t.inputs.map((n) => JSON.stringify(n)).join(', ')}]`);
    if (t.match !== undefined) out.push(`match = [${t.match.map((n) => JSON.stringify(n)).join(', ')}]`);
    if (KINDS[t.kind].gather) out.push('gather = true');
    if (t.shell !== undefined) out.push(`shell = [${t.shell.map((n) => JSON.stringify(n)).join(', ')}]`);
    const script = scriptOf(t);
    if (script.includes("'''") || !script.endsWith('\n'))
      throw new Error(`script of ${t.name} cannot be written as a literal string`);
    // The newline right after the opening ''' is dropped by TOML: the value is exactly `script`.
    out.push(`script = '''\n${script}'''`);
    out.push('');
  }
  return out.join('\n');
}

function inputLine(r) {
  switch (r.weighted({ num: 3, word: 2, numword: 3, words: 2 })) {
    case 'num':
      return String(r.int(0, 30));
    case 'word':
      return r.pick(WORDS);
    case 'numword':
      return `${r.int(0, 30)} ${r.pick(WORDS)}`;
    default:
      return `${r.pick(WORDS)} ${r.pick(WORDS)}`;
  }
}

function inputContent(r) {
  if (r.chance(0.08)) return '';
  const lines = Array.from({ length: r.pick([1, 1, 2, 2, 3, 4]) }, () => inputLine(r));
  return lines.join('\n') + (r.chance(0.85) ? '\n' : '');
}

const clone = (x) => JSON.parse(JSON.stringify(x));

function newTask(r, tasks, index) {
  const name = (kind) => `${kind}${index}`;
  // A twin: the same script over the same inputs under another name (equal outputs from two tasks).
  const twins = tasks.filter((t) => !KINDS[t.kind].gather);
  if (tasks.length > 0 && twins.length > 0 && r.chance(0.12)) {
    const src = r.pick(twins);
    const srcIndex = tasks.indexOf(src);
    const inputs = src.inputs ?? (srcIndex === 0 ? [] : [tasks[srcIndex - 1].name]);
    return {
      ...clone(src),
      name: name(src.kind),
      inputs: inputs.length === 1 && inputs[0] === tasks[tasks.length - 1].name ? undefined : inputs,
      twinOf: src.name,
    };
  }
  const gather = tasks.length > 0 && r.chance(0.3);
  // At most one fan-out split per pipeline: it multiplies the steps of everything downstream.
  const hasSplit = tasks.some((u) => u.kind === 'split');
  const kind = r.pick(gather ? GATHER_KINDS : MAP_KINDS.filter((k) => k !== 'split' || !hasSplit));
  const spec = KINDS[kind];
  const t = { name: name(kind), kind, knobs: {}, fixed: {} };
  for (const [k, vals] of Object.entries(spec.knobs)) t.knobs[k] = r.pick(vals);
  for (const [k, vals] of Object.entries(spec.fixed)) t.fixed[k] = r.pick(vals);
  t.cosmetic = r.chance(0.2) ? r.int(1, 3) : 0;
  const s = r.weighted({ default: 4, explicit: 3, plain: 1 });
  if (s === 'explicit') t.shell = ['bash', '-euo', 'pipefail', '-c'];
  else if (s === 'plain' && !gather) t.shell = ['bash', '-c'];
  if (tasks.length === 0) return t; // the first task: a root, inputs omitted
  const how = r.weighted({ previous: 5, one: 3, two: gather ? 3 : 2, root: gather ? 0 : 1 });
  if (how === 'previous') t.inputs = undefined;
  else if (how === 'one') t.inputs = [r.pick(tasks).name];
  else if (how === 'two' && tasks.length >= 2) t.inputs = r.sample(tasks, 2).map((u) => u.name);
  else if (how === 'root') t.inputs = [];
  else t.inputs = [r.pick(tasks).name];
  const ups = t.inputs ?? [tasks[tasks.length - 1].name];
  if (ups.length > 0 && r.chance(0.3)) {
    const pattern = () => {
      if (r.chance(0.25)) return r.pick(PATTERNS);
      const upName = r.pick(ups);
      const up = tasks.find((u) => u.name === upName);
      return r.pick(RELEVANT[up.kind](up.fixed));
    };
    t.match = [pattern()];
    if (r.chance(0.2)) {
      const p = pattern();
      if (p !== t.match[0]) t.match.push(p);
    }
  }
  return t;
}

/**
 * The inputs model: `current` maps a run-input name to its content (a string), as the engine's
 * current inputs are. `giveInputs` applies one run's `-input` arguments over the input files.
 */
export function giveInputs(current, dirFiles, extraFiles, inputArgs) {
  for (const a of inputArgs) {
    if (a.kind === 'dir') for (const [name, content] of dirFiles) current.set(name, content);
    else current.set(a.path.split('/').pop(), extraFiles.get(a.path));
  }
}

/** The whole case of a seed: { seed, runs: [{ changes, fsOps, retire, inputArgs, tasks }] }. */
export function generateCase(seed) {
  const r = rng(seed);
  const dirFiles = new Map(); // path under in/ -> content
  const extraFiles = new Map(); // path under extra/ -> content
  const current = new Map(); // the engine's current run inputs: name -> content

  // The first run's input directory: 2-8 files, sometimes two empty files, sometimes two equal files
  // in subdirectories.
  const fsOps0 = [];
  const write = (path, content, ops, where = 'in') => {
    ops.push({ op: 'write', where, path, content });
    (where === 'in' ? dirFiles : extraFiles).set(path, content);
  };
  // Sizes lean small (the suite runs 50 seeds on 2 cores) but cover the whole ranges.
  let budget = r.pick([2, 3, 3, 4, 4, 5, 6, 8]);
  if (r.chance(0.35) && budget >= 2) {
    write('empty1.txt', '', fsOps0);
    write('sub/empty2', '', fsOps0);
    budget -= 2;
  }
  if (r.chance(0.35) && budget >= 2) {
    const c = inputContent(r) || 'same\n';
    write('x/same.txt', c, fsOps0);
    write('y/same.txt', c, fsOps0);
    budget -= 2;
  }
  for (const name of r.sample(NAME_POOL, Math.max(budget, dirFiles.size === 0 ? 2 : 0)))
    write(name, inputContent(r), fsOps0);

  let tasks = [];
  const nTasks = r.pick([2, 2, 3, 3, 4, 4, 5]);
  for (let i = 1; i <= nTasks; i++) tasks.push(newTask(r, tasks, i));
  let nextIndex = nTasks + 1;

  const runs = [];
  const run0 = { changes: ['first run'], fsOps: fsOps0, retire: [], inputArgs: [{ kind: 'dir' }], tasks: clone(tasks) };
  giveInputs(current, dirFiles, extraFiles, run0.inputArgs);
  runs.push(run0);

  const nRuns = r.chance(0.6) ? 3 : 4;
  const reverts = new Map(); // run index -> [{ name, task }] (restore the old spec of that task)
  for (let ri = 1; ri < nRuns; ri++) {
    const changes = [];
    const fsOps = [];
    const retire = [];
    const inputArgs = [];
    let dirChanged = false;
    let solo = null;

    for (const rv of reverts.get(ri) ?? []) {
      const i = tasks.findIndex((t) => t.name === rv.name);
      if (i >= 0) {
        tasks[i] = clone(rv.task);
        changes.push(`change task ${rv.name}'s script back`);
      }
    }
    const nChanges = r.int(1, 2);
    for (let c = 0; c < nChanges; c++) {
      const what = r.weighted({
        editInput: 3,
        addFiles: 3,
        retire: 2,
        deleteFile: 1,
        editScript: 3,
        addTask: 2,
        nothing: 1,
      });
      if (what === 'editInput' && dirFiles.size > 0) {
        const path = r.pick([...dirFiles.keys()]);
        let content = inputContent(r);
        if (content === dirFiles.get(path)) content += `${r.pick(WORDS)}\n`;
        write(path, content, fsOps);
        dirChanged = true;
        changes.push(`edit input file ${path}`);
      } else if (what === 'addFiles') {
        const fresh = NEW_NAME_POOL.filter((n) => !dirFiles.has(n));
        for (const path of r.sample(fresh, r.int(1, 2))) {
          // Sometimes the bytes of a file already there, under a new name.
          const content =
            r.chance(0.25) && dirFiles.size > 0 ? dirFiles.get(r.pick([...dirFiles.keys()])) : inputContent(r);
          write(path, content, fsOps);
          dirChanged = true;
          changes.push(`add input file ${path}`);
        }
        if (solo === null && r.chance(0.35)) {
          solo = `extra/${r.pick(SOLO_POOL)}`;
          write(solo, inputContent(r), fsOps, 'extra');
          changes.push(`give the single file ${solo} (named by its basename)`);
        }
      } else if (what === 'retire') {
        // `inputs rm` takes globs with the rules of `match`: a name without "/" would also retire other
        // names with that basename (a.txt and sub/a.txt). Only names that retire exactly themselves.
        const base = (n) => n.slice(n.lastIndexOf('/') + 1);
        const names = [...current.keys()].filter(
          (n) => !retire.includes(n) && (n.includes('/') || [...current.keys()].every((m) => m === n || base(m) !== n)),
        );
        if (names.length >= 1 && current.size >= 2) {
          for (const name of r.sample(names, r.int(1, Math.min(2, names.length, current.size - 1)))) {
            retire.push(name);
            current.delete(name);
            const del = dirFiles.has(name) && r.chance(0.7);
            if (del) {
              fsOps.push({ op: 'delete', where: 'in', path: name });
              dirFiles.delete(name);
              dirChanged = true;
            }
            changes.push(
              `inputs rm ${name}${del ? ' (and delete the file)' : dirFiles.has(name) ? ' (the file stays in the directory)' : ''}`,
            );
          }
        }
      } else if (what === 'deleteFile' && dirFiles.size > 1) {
        const path = r.pick([...dirFiles.keys()]);
        fsOps.push({ op: 'delete', where: 'in', path });
        dirFiles.delete(path);
        dirChanged = true;
        changes.push(`delete input file ${path} without retiring it`);
      } else if (what === 'editScript') {
        const i = r.int(0, tasks.length - 1);
        const t = tasks[i];
        const old = clone(t);
        const knobNames = Object.keys(t.knobs);
        const how = r.weighted({ knob: 5, cosmetic: 2, shell: 1 });
        if (how === 'knob' && knobNames.length > 0) {
          const k = r.pick(knobNames);
          t.knobs[k] = r.pick(KINDS[t.kind].knobs[k].filter((v) => v !== t.knobs[k]));
          changes.push(
            `edit task ${t.name}'s script (${k}: ${JSON.stringify(old.knobs[k])} -> ${JSON.stringify(t.knobs[k])})`,
          );
        } else if (how === 'shell') {
          t.shell = t.shell === undefined ? ['bash', '-euo', 'pipefail', '-c'] : undefined;
          changes.push(
            `edit task ${t.name}'s shell (${JSON.stringify(old.shell ?? 'default')} -> ${JSON.stringify(t.shell ?? 'default')})`,
          );
        } else {
          t.cosmetic = (t.cosmetic % 3) + 1;
          changes.push(`edit task ${t.name}'s script (a no-op line: same outputs)`);
        }
        const back = ri + r.int(1, 2);
        if (back < nRuns && r.chance(0.8)) {
          if (!reverts.has(back)) reverts.set(back, []);
          reverts.get(back).push({ name: t.name, task: old });
        }
      } else if (what === 'addTask' && tasks.length < 6) {
        const t = newTask(r, tasks, nextIndex++);
        tasks.push(t);
        changes.push(`add task ${t.name}`);
      } else {
        changes.push('nothing changed');
      }
    }
    // Give the directory again? Needed to see the changes in it, but not always done.
    const soloName = solo?.split('/').pop();
    const dirClash = soloName !== undefined && dirFiles.has(soloName);
    if (!dirClash && r.chance(dirChanged ? 0.85 : 0.4)) inputArgs.push({ kind: 'dir' });
    if (solo !== null) inputArgs.push({ kind: 'file', path: solo });
    giveInputs(current, dirFiles, extraFiles, inputArgs);
    runs.push({ changes, fsOps, retire, inputArgs, tasks: clone(tasks) });
  }
  return { seed, runs };
}
