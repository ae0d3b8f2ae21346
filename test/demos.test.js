// The demo pipelines in manifests/: each runs green through the real CLI, its final outputs
// equal what the test computes on its own from the demo's data, and a second run runs nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT, workspace, cli, sha256, objectPath, isEmptyDir, openDb } from './helpers.js';

const MANIFESTS = join(ROOT, 'manifests');

/** Run the CLI from the repository root, as the manifests' headers say; assert exit 0. */
function run(args) {
  const r = cli(args, { cwd: ROOT });
  assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r;
}

/** The steps of a task in the db, each with its input and its outputs (name -> text), by step id. */
async function stepsOf(dbDir, task) {
  const db = await openDb(dbDir);
  try {
    const steps = db
      .prepare(
        `SELECT s.id, lower(hex(s.object_hash)) AS input, s.input_name AS inputName, s.status
                FROM step s JOIN task t ON t.id = s.task WHERE t.name = ? ORDER BY s.id`,
      )
      .all(task);
    const outputs = db.prepare(
      `SELECT o.name, lower(hex(o.object_hash)) AS hash FROM step_output o WHERE o.step_id = ? ORDER BY o.name`,
    );
    return steps.map((s) => {
      const out = new Map();
      for (const o of outputs.all(s.id)) out.set(o.name, readObject(dbDir, o.hash));
      return { ...s, outputs: out };
    });
  } finally {
    db.close();
  }
}

/** Every output of a task's steps, name -> text (the query from the brief; a fresh db has one version per task). */
async function outputsOf(dbDir, task) {
  const db = await openDb(dbDir);
  try {
    const rows = db
      .prepare(
        `SELECT o.name, lower(hex(o.object_hash)) AS hash FROM step_output o JOIN step s ON s.id = o.step_id
                JOIN task t ON t.id = s.task WHERE t.name = ? ORDER BY o.name, o.object_hash`,
      )
      .all(task);
    return rows.map((r) => ({ name: r.name, hash: r.hash, text: readObject(dbDir, r.hash) }));
  } finally {
    db.close();
  }
}

/** The object's bytes as text, after checking that its file hashes to its name. */
function readObject(dbDir, hash) {
  const bytes = readFileSync(objectPath(dbDir, hash));
  assert.equal(sha256(bytes), hash, `object ${hash} does not hash to its name`);
  return bytes.toString('utf8');
}

/** The single output of a gather task under `name`. */
async function gathered(dbDir, task, name) {
  const outs = (await outputsOf(dbDir, task)).filter((o) => o.name === name);
  assert.equal(outs.length, 1, `${task} has ${outs.length} outputs named ${name}`);
  return outs[0].text;
}

async function stepCounts(dbDir) {
  const db = await openDb(dbDir);
  try {
    return db
      .prepare(`SELECT status, count(*) AS n, max(finished_at) AS last FROM step GROUP BY status ORDER BY status`)
      .all();
  } finally {
    db.close();
  }
}

/** After a finished run: every step done, tmp/ empty. Then a second run runs no script and changes no step. */
async function assertSettledAndFree(dbDir, args) {
  const counts = await stepCounts(dbDir);
  assert.deepEqual(
    counts.map((c) => c.status),
    ['done'],
    `steps not all done: ${JSON.stringify(counts)}`,
  );
  assert.ok(isEmptyDir(join(dbDir, 'tmp')), 'tmp/ is not empty after the run');
  const again = run(args);
  assert.match(again.stdout, /\b0 steps run\b/, again.stdout);
  assert.deepEqual(await stepCounts(dbDir), counts, 'the second run changed the steps');
  assert.ok(isEmptyDir(join(dbDir, 'tmp')), 'tmp/ is not empty after the second run');
}

/** Files under dir, recursively, as paths relative to dir ("/"-separated), sorted. */
function walk(dir) {
  const out = [];
  (function visit(d) {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) visit(p);
      else out.push(relative(dir, p).split('\\').join('/'));
    }
  })(dir);
  return out.sort();
}

const byBytes = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** What wordfreq should compute, worked out here from the corpus itself. */
function expectedWordfreq(corpus) {
  const expectedSplit = new Map();
  const counts = new Map();
  for (const f of walk(corpus)) {
    const text = readFileSync(join(corpus, f), 'utf8');
    const paragraphs = [];
    let cur = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') {
        if (cur.length) paragraphs.push(cur);
        cur = [];
      } else cur.push(line);
    }
    if (cur.length) paragraphs.push(cur);
    paragraphs.forEach((lines, i) => {
      const n = i + 1;
      expectedSplit.set(
        `${f.replace(/\.txt$/, '')}/p${String(n).padStart(3, '0')}.txt`,
        `# ${f} paragraph ${n}\n${lines.join('\n')}\n`,
      );
    });
    for (const w of text
      .toLowerCase()
      .replace(/'/g, '')
      .split(/[^a-z]+/))
      if (w) counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || byBytes(a[0], b[0]));
  const top = ranked
    .slice(0, 20)
    .map(([w, c], i) => `${String(i + 1).padStart(2)}  ${w.padEnd(10)} ${String(c).padStart(4)}\n`)
    .join('');
  return { expectedSplit, ranked, top };
}

test('wordfreq: paragraphs fan out, counts fan in to the top 20 words of the corpus', async (t) => {
  const ws = workspace(t, 'tp-demo-wordfreq-');
  const corpus = join(MANIFESTS, 'corpus');
  const args = ['-manifest', join(MANIFESTS, 'wordfreq.toml'), '-db', ws.db, '-input', corpus];
  const first = run(args);
  assert.match(first.stdout, /\bdone: \d+ steps run, \d+ reused, 0 failed/);

  const files = walk(corpus);
  assert.ok(files.length >= 5, 'the corpus has at least 5 texts');
  assert.ok(
    files.some((f) => f.includes('/')),
    'the corpus has texts in a subdirectory',
  );
  const { expectedSplit, ranked, top } = expectedWordfreq(corpus);

  const split = await outputsOf(ws.db, 'split');
  assert.deepEqual(new Map(split.map((o) => [o.name, o.text])), expectedSplit);
  assert.equal(split.length, expectedSplit.size, 'every paragraph is its own object');

  // count: one step per paragraph, each leaving counts.tsv (its stdout).
  const countSteps = await stepsOf(ws.db, 'count');
  assert.equal(countSteps.length, expectedSplit.size);
  for (const s of countSteps) assert.deepEqual([...s.outputs.keys()], ['counts.tsv']);

  // top: the merged table, most frequent first, ties by word.
  assert.equal(await gathered(ws.db, 'top', 'words.tsv'), ranked.map(([w, c]) => `${w}\t${c}\n`).join(''));
  assert.equal(await gathered(ws.db, 'top', 'top.txt'), top);
  assert.equal(top.split('\n')[0].trim().split(/\s+/)[1], 'the');
  assert.equal((await stepsOf(ws.db, 'top')).length, 1, 'one gather step');

  await assertSettledAndFree(ws.db, args);
});

// `npm run demo` passes a relative -db while scripts run in the manifest's directory. The
// manifest is copied into the workspace so that whatever a failing run leaves lands there.
test("wordfreq with a relative -db, run from another directory than the manifest's (as npm run demo does)", async (t) => {
  const ws = workspace(t, 'tp-demo-reldb-');
  ws.write('manifests/wordfreq.toml', readFileSync(join(MANIFESTS, 'wordfreq.toml'), 'utf8'));
  const corpus = join(MANIFESTS, 'corpus');
  const r = cli(['-manifest', 'manifests/wordfreq.toml', '-db', 'demo-db', '-input', corpus], { cwd: ws.dir });
  assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  assert.equal(await gathered(ws.path('demo-db'), 'top', 'top.txt'), expectedWordfreq(corpus).top);
});

test('csv-clean: a Python cleaner, a stdout task and a gather summary', async (t) => {
  const ws = workspace(t, 'tp-demo-csv-');
  const data = join(MANIFESTS, 'data');
  const args = ['-manifest', join(MANIFESTS, 'csv-clean.toml'), '-db', ws.db, '-input', data];
  run(args);

  assert.deepEqual(walk(data), ['archive/orders-2022.csv', 'customers.csv', 'orders.csv']);
  const expectedClean = {
    'customers.csv':
      'customer_id,full_name,e_mail,signup_date,country\n' +
      '1,Ada Lovelace,ada@example.org,2023-01-05,GB\n' +
      '2,Alan Turing,alan.turing@example.org,2023-02-05,GB\n' +
      '3,Grace Hopper,grace.hopper@example.com,2023-12-09,US\n' +
      '4,"Hopper, Grace",grace@example.com,2023-09-12,US\n' +
      '9,Margaret Hamilton,margaret@example.com,2023-03-03,US\n' +
      '11,Radia Perlman,radia@example.com,2024-02-01,US\n',
    'orders.csv':
      'order_no,order_date,customer_id,item,quantity,unit_price\n' +
      '1001,2024-01-03,1,brass lantern,2,12.50\n' +
      '1002,2024-01-04,3,rope (20 m),1,8.00\n' +
      '1003,2024-01-04,2,lantern wick,10,0.40\n' +
      '1005,2024-01-05,11,oil lamp,1,15.00\n' +
      '1009,2024-01-08,8,sea chart,1,22.00\n',
    // UTF-8 BOM and CRLF line ends in the input; neither survives.
    'archive/orders-2022.csv':
      'order_no,order_date,customer_id,item,quantity,unit_price\n' +
      '1,2022-11-30,1,brass lantern,1,11.00\n' +
      '2,2022-11-30,2,lantern wick,20,0.35\n' +
      '4,2022-12-02,3,"rope, tarred",1,9.50\n',
  };
  const rejects = [
    ['archive/orders-2022.csv', 4, 'missing customer_id'],
    ['archive/orders-2022.csv', 6, 'duplicate of line 5'],
    ['archive/orders-2022.csv', 7, "bad price '£40'"],
    ['customers.csv', 6, "bad date 'sometime in May'"],
    ['customers.csv', 7, "bad e-mail 'barbara.example.org'"],
    ['customers.csv', 8, 'missing customer_id'],
    ['customers.csv', 9, '4 fields, expected 5'],
    ['customers.csv', 10, '6 fields, expected 5'],
    ['customers.csv', 12, 'duplicate of line 3'],
    ['customers.csv', 14, "bad date '2023-13-01'"],
    ['orders.csv', 5, "bad quantity 'two'"],
    ['orders.csv', 7, 'missing order_date'],
    ['orders.csv', 8, '7 fields, expected 6'],
    ['orders.csv', 9, "bad quantity '-1'"],
  ];
  const rejectsOf = (file) =>
    rejects
      .filter((r) => r[0] === file)
      .map((r) => r.join('\t') + '\n')
      .join('');

  // clean: per input, the cleaned CSV under the input's own (nested) name and its rejects.
  const clean = await outputsOf(ws.db, 'clean');
  const expectedOutputs = new Map();
  for (const [file, text] of Object.entries(expectedClean)) {
    expectedOutputs.set(file, text);
    expectedOutputs.set(file.replace(/\.csv$/, '.rejects.tsv'), rejectsOf(file));
  }
  assert.deepEqual(new Map(clean.map((o) => [o.name, o.text])), expectedOutputs);

  // stats (stdout = "stats.txt"): name, rows, columns.
  const stats = await outputsOf(ws.db, 'stats');
  const rowsOf = (text) => text.split('\n').length - 2;
  const colsOf = (text) => text.split('\n')[0].split(',').length;
  assert.deepEqual(
    stats.map((o) => [o.name, o.text]).sort((a, b) => byBytes(a[1], b[1])),
    Object.entries(expectedClean)
      .map(([file, text]) => ['stats.txt', `${file}\t${rowsOf(text)}\t${colsOf(text)}\n`])
      .sort((a, b) => byBytes(a[1], b[1])),
  );

  // summary: one gather over stats and rejects.
  const files = Object.keys(expectedClean).sort(byBytes);
  const kept = (f) => rowsOf(expectedClean[f]);
  const dropped = (f) => rejects.filter((r) => r[0] === f).length;
  const summary =
    'file\tcolumns\tkept\tdropped\n' +
    files.map((f) => `${f}\t${colsOf(expectedClean[f])}\t${kept(f)}\t${dropped(f)}\n`).join('') +
    `total\t\t${files.reduce((n, f) => n + kept(f), 0)}\t${rejects.length}\n`;
  assert.equal(await gathered(ws.db, 'summary', 'summary.tsv'), summary);
  assert.equal(summary.split('\n').at(-2), 'total\t\t14\t14');
  assert.equal(await gathered(ws.db, 'summary', 'rejects.tsv'), rejects.map((r) => r.join('\t') + '\n').join(''));

  await assertSettledAndFree(ws.db, args);
});

test('converge: self-consuming tasks stop at a fixpoint and at an empty output', async (t) => {
  const ws = workspace(t, 'tp-demo-converge-');
  const args = ['-manifest', join(MANIFESTS, 'converge.toml'), '-db', ws.db];
  run(args);

  // The starting data, as the seed wrote it.
  const seed = await outputsOf(ws.db, 'seed');
  const edgesText = seed.find((o) => o.name === 'edges.txt').text;
  const edges = edgesText
    .trim()
    .split('\n')
    .map((l) => l.split(' '));
  const starts = seed.filter((o) => o.name.startsWith('n-')).map((o) => Number(o.text));
  assert.ok(edges.length > 5 && starts.length > 1);

  // closure: the transitive closure, computed here by search from every place.
  const succ = new Map();
  for (const [a, b] of edges) succ.set(a, [...(succ.get(a) ?? []), b]);
  const reach = new Map();
  for (const from of succ.keys()) {
    const seen = new Set();
    const todo = [...succ.get(from)];
    while (todo.length) {
      const x = todo.pop();
      if (seen.has(x)) continue;
      seen.add(x);
      todo.push(...(succ.get(x) ?? []));
    }
    reach.set(from, [...seen].sort(byBytes));
  }
  const closure = [...reach].flatMap(([a, bs]) => bs.map((b) => `${a} ${b}`)).sort(byBytes);
  assert.equal(await gathered(ws.db, 'reachable', 'closure.txt'), closure.map((l) => l + '\n').join(''));
  const reachable = [...reach]
    .sort((a, b) => byBytes(a[0], b[0]))
    .map(([a, bs]) => `${a}: ${bs.join(' ')}\n`)
    .join('');
  assert.equal(await gathered(ws.db, 'reachable', 'reachable.txt'), reachable);

  // The loop: each round's output is the next round's input; exactly the last round wrote back its own input.
  const rounds = await stepsOf(ws.db, 'closure');
  const fixpoints = rounds.filter((s) => sha256(s.outputs.get('edges.txt')) === s.input);
  assert.equal(fixpoints.length, 1, 'one round reaches the fixpoint');
  assert.equal(fixpoints[0], rounds.at(-1), 'the fixpoint is the last round');
  assert.equal(fixpoints[0].outputs.get('edges.txt'), closure.map((l) => l + '\n').join(''));
  for (let i = 1; i < rounds.length; i++) assert.equal(rounds[i].input, sha256(rounds[i - 1].outputs.get('edges.txt')));
  // Each round is R + R.R: the longest path (7 roads) needs 3 squarings, then one round to see nothing change.
  assert.equal(rounds.length, 4);

  // collatz: one step per number reached, each number once however many paths reach it; 1 outputs nothing.
  const visited = new Set();
  for (let n of starts) {
    while (!visited.has(n)) {
      visited.add(n);
      if (n === 1) break;
      n = n % 2 === 0 ? n / 2 : 3 * n + 1;
    }
  }
  const sorted = [...visited].sort((a, b) => a - b);
  assert.equal(await gathered(ws.db, 'visited', 'visited.txt'), sorted.map((n) => `${n}\n`).join(''));
  assert.equal(
    await gathered(ws.db, 'visited', 'summary.txt'),
    `numbers: ${sorted.length}\nhighest: ${sorted.at(-1)}\n`,
  );
  const collatz = await stepsOf(ws.db, 'collatz');
  assert.deepEqual(
    collatz.map((s) => Number(s.inputName.slice(2))).sort((a, b) => a - b),
    sorted,
  );
  for (const s of collatz) assert.equal(s.outputs.size, Number(s.inputName.slice(2)) === 1 ? 0 : 1, s.inputName);

  await assertSettledAndFree(ws.db, args);
});

test('every demo manifest says what it shows and how to run it', () => {
  const manifests = readdirSync(MANIFESTS)
    .filter((f) => f.endsWith('.toml'))
    .sort();
  assert.ok(manifests.length >= 3);
  for (const f of manifests) {
    const text = readFileSync(join(MANIFESTS, f), 'utf8');
    const header = text.slice(0, text.search(/^[^#]/m));
    assert.match(header, /^# \S+: /, `${f}: the header starts with what the demo is`);
    assert.ok(
      header.includes(`node dist/cli/main.js -manifest manifests/${f} -db `),
      `${f}: the header gives the command to run it`,
    );
  }
});
