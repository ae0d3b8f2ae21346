import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cli, objectPath, openDb, workspace } from './helpers.js';

async function outputs(db, task) {
  const d = await openDb(db);
  const rows = d
    .prepare(
      `SELECT o.name, lower(hex(o.object_hash)) AS hash FROM step_output o JOIN step s ON s.id = o.step_id
                          JOIN task t ON t.id = s.task WHERE t.name = ? ORDER BY o.name`,
    )
    .all(task);
  d.close();
  return rows.map((r) => ({ name: r.name, text: readFileSync(objectPath(db, r.hash), 'utf8') }));
}

test('a Python (shebang) task and a stdout = task', async (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `
[[task]]
name = "py"
script = '''
#!/usr/bin/env python3
import os, pathlib
words = pathlib.Path(os.environ["INPUT_FILE"]).read_text().split()
out = pathlib.Path(os.environ["OUTPUT_DIR"]) / "words"
out.write_text("\\n".join(sorted(words)) + "\\n")
'''

[[task]]
name = "count"
stdout = "count.txt"
script = 'wc -l < "$INPUT_FILE" | tr -d " "'
`,
  );
  ws.write('in.txt', 'pear apple fig\n');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt')]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await outputs(ws.db, 'py'), [{ name: 'words', text: 'apple\nfig\npear\n' }]);
  assert.deepEqual(await outputs(ws.db, 'count'), [{ name: 'count.txt', text: '3\n' }]);
});

test('match lets only matching outputs flow downstream', async (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `
[[task]]
name = "make"
script = 'echo a > "$OUTPUT_DIR/keep.txt"; echo b > "$OUTPUT_DIR/skip.log"; mkdir "$OUTPUT_DIR/d"; echo c > "$OUTPUT_DIR/d/also.txt"'

[[task]]
name = "use"
match = ["*.txt"]
script = 'cp "$INPUT_FILE" "$OUTPUT_DIR/got-$(basename "$INPUT_NAME")"'
`,
  );
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db]).code, 0);
  assert.deepEqual(
    (await outputs(ws.db, 'use')).map((o) => o.name),
    ['got-also.txt', 'got-keep.txt'],
  );
});

test('an iterative task consumes its own outputs until no new bytes appear', async (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `
[[task]]
name = "start"
script = 'echo 27 > "$OUTPUT_DIR/n"'

[[task]]
name = "halve"
inputs = ["start", "halve"]
script = '''
n=$(cat "$INPUT_FILE")
if [ "$n" -gt 1 ]; then echo $((n / 2)) > "$OUTPUT_DIR/n"; fi
'''
`,
  );
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db]);
  assert.equal(r.code, 0, r.stderr);
  const seen = (await outputs(ws.db, 'halve')).map((o) => o.text.trim()).sort((a, b) => a - b);
  assert.deepEqual(seen, ['1', '3', '6', '13']);
});
