import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cli, objectPath, openDb, workspace } from './helpers.js';
import { linesOf } from './helpers.js';

const SUM = (sumScript) => `
[[task]]
name = "square"
script = '''
echo "square $INPUT_NAME" >> "$RUNS"
n=$(cat "$INPUT_FILE"); echo $((n * n)) > "$OUTPUT_DIR/sq"
'''

[[task]]
name = "total"
gather = true
script = '''
echo "total" >> "$RUNS"
${sumScript}
'''
`;
const AWK = `cat "$INPUT_DIR"/* | awk '{s+=$1} END {print s}' > "$OUTPUT_DIR/total"`;
const runs = (ws) => linesOf(ws.path('runs'));

async function total(db) {
  const d = await openDb(db);
  const row = d
    .prepare(
      `SELECT lower(hex(o.object_hash)) AS hash FROM current_task c JOIN step s ON s.id = c.gather_step_id
                         JOIN step_output o ON o.step_id = s.id WHERE c.name = 'total'`,
    )
    .get();
  d.close();
  return readFileSync(objectPath(db, row.hash), 'utf8').trim();
}

test('a gather task sums a fan-out; one new input re-runs the fan-out for it only and the gather once; undo is free', async (t) => {
  const ws = workspace(t);
  ws.write('m.toml', SUM(AWK));
  for (const n of [1, 2, 3]) ws.write(`in/${n}.txt`, `${n}\n`);
  const env = { RUNS: ws.path('runs') };
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in')], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await total(ws.db), '14');
  assert.equal(runs(ws).filter((l) => l === 'total').length, 1);

  let before = runs(ws).length;
  ws.write('more/4.txt', '4\n');
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('more')], { env }).code, 0);
  assert.deepEqual(runs(ws).slice(before), ['square 4.txt', 'total']);
  assert.equal(await total(ws.db), '30');

  // The listing handed to the gather: sorted HASH<TAB>NAME<TAB>FROM lines, one per upstream output.
  const d = await openDb(ws.db);
  const listingHash = d
    .prepare(
      `SELECT lower(hex(s.object_hash)) FROM current_task c JOIN step s ON s.id = c.gather_step_id WHERE c.name='total'`,
    )
    .pluck()
    .get();
  d.close();
  const listing = readFileSync(objectPath(ws.db, listingHash), 'utf8').trim().split('\n');
  assert.equal(listing.length, 4);
  assert.deepEqual([...listing].sort(), listing);
  for (const line of listing) assert.match(line, /^[0-9a-f]{64}\tsq\t[1-4]\.txt$/);

  // Change the gather's script, then change it back: the second change re-runs nothing.
  before = runs(ws).length;
  ws.write('m.toml', SUM(`cat "$INPUT_DIR"/* | paste -sd+ | bc > "$OUTPUT_DIR/total" 2>/dev/null || ${AWK}`));
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env }).code, 0);
  assert.deepEqual(runs(ws).slice(before), ['total']);
  assert.equal(await total(ws.db), '30');
  before = runs(ws).length;
  ws.write('m.toml', SUM(AWK));
  const undo = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env });
  assert.equal(undo.code, 0, undo.stderr);
  assert.deepEqual(runs(ws).slice(before), [], 'undo is free');
  assert.equal(await total(ws.db), '30');
});

test('a gather downstream of an edited upstream sees only the current outputs, not history', async (t) => {
  const ws = workspace(t);
  ws.write('m.toml', SUM(AWK));
  for (const n of [1, 2]) ws.write(`in/${n}.txt`, `${n}\n`);
  assert.equal(
    cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in')], { env: { RUNS: ws.path('runs') } })
      .code,
    0,
  );
  assert.equal(await total(ws.db), '5');
  ws.write('m.toml', SUM(AWK).replace('$((n * n))', '$((n * n * n))'));
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env: { RUNS: ws.path('runs') } }).code, 0);
  assert.equal(await total(ws.db), '9');
});

test('a gather does not run over partial data: a failed upstream step holds it back until fixed', async (t) => {
  const ws = workspace(t);
  const m = SUM(AWK).replace(
    'n=$(cat "$INPUT_FILE");',
    'n=$(cat "$INPUT_FILE"); [ "$n" != 2 ] || [ -e "$FIXED" ] || exit 9;',
  );
  ws.write('m.toml', m);
  for (const n of [1, 2, 3]) ws.write(`in/${n}.txt`, `${n}\n`);
  const env = { RUNS: ws.path('runs'), FIXED: ws.path('fixed') };
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in')], { env });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /gather "total" did not run/);
  assert.equal(runs(ws).filter((l) => l === 'total').length, 0);
  ws.write('fixed', '');
  const fixed = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env });
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.equal(await total(ws.db), '14');
});

test('a gather over a gather: undoing an edit of the first re-fires the second over a listing, never over an item', async (t) => {
  const ws = workspace(t);
  const manifest = (measure) => `
[[task]]
name = "up"
script = 'cp "$INPUT_FILE" "$OUTPUT_DIR/x"'

[[task]]
name = "count"
gather = true
script = '${measure} < "$INPUT_FILE" > "$OUTPUT_DIR/n"'

[[task]]
name = "sum"
inputs = ["up", "count"]
gather = true
script = '''cat "$INPUT_DIR"/* | awk '{s+=$1} END {print s+0}' > "$OUTPUT_DIR/total"'''
`;
  for (const n of [1, 2]) ws.write(`in/${n}.txt`, `${n}\n`);
  const sums = [];
  for (const measure of ['wc -l', 'wc -c', 'wc -l']) {
    ws.write('m.toml', manifest(measure));
    const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-quiet']);
    assert.equal(r.code, 0, r.stderr);
    const ls = cli(['ls', '-db', ws.db, '-task', 'sum']);
    assert.equal(ls.code, 0, ls.stderr);
    const [, hash] = ls.stdout.trim().split('\t');
    sums.push(cli(['cat', '-db', ws.db, hash]).stdout.trim());
  }
  // 1 + 2 plus the listing of up's 2 outputs: 2 lines, then its size in bytes; the undo gives the first answer back.
  assert.equal(sums[0], '5');
  assert.equal(sums[2], sums[0]);
  const d = await openDb(ws.db);
  const items = d
    .prepare(
      `SELECT count(*) FROM step s JOIN task t ON t.id = s.task WHERE t.name = 'sum' AND s.input_name <> 'listing'`,
    )
    .pluck()
    .get();
  d.close();
  assert.equal(items, 0, 'a gather task has only listing steps');
});
