// graph: the manifest's task graph as Mermaid or dot, with match globs on the edges; no db needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli, workspace } from './helpers.js';

const MANIFEST = `
[[task]]
name = "split"
script = 'split -l 1 "$INPUT_FILE" "$OUTPUT_DIR/part-"'

[[task]]
name = "count.words"
match = ["part-*", "x\\"y"]
script = 'wc -w < "$INPUT_FILE" > "$OUTPUT_DIR/n"'

[[task]]
name = "total"
gather = true
script = 'cat "$INPUT_DIR"/* > "$OUTPUT_DIR/total"'
`;

test('graph draws Mermaid by default: tasks, the run inputs, gather apart, match globs on edges', (t) => {
  const ws = workspace(t, 'tp-inspect-');
  ws.write('m.toml', MANIFEST);
  const r = cli(['graph', '-manifest', ws.path('m.toml')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      'flowchart LR',
      '  inputs(["run inputs"])',
      '  t0["split"]',
      '  t1["count.words"]',
      '  t2[["total (gather)"]]',
      '  inputs --> t0',
      '  t0 -->|"part-* x#quot;y"| t1',
      '  t1 --> t2',
      '',
    ].join('\n'),
  );
  assert.ok(!ws.read('m.toml').includes('db'));
});

test('graph -format dot draws the same graph for Graphviz', (t) => {
  const ws = workspace(t, 'tp-inspect-');
  ws.write('m.toml', MANIFEST);
  const r = cli(['graph', '-manifest', ws.path('m.toml'), '-format', 'dot']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      'digraph pipeline {',
      '  rankdir=LR;',
      '  node [shape=box];',
      '  _inputs [label="run inputs", shape=oval];',
      '  "split";',
      '  "count.words";',
      '  "total" [label="total (gather)", peripheries=2];',
      '  _inputs -> "split";',
      '  "split" -> "count.words" [label="part-* x\\"y"];',
      '  "count.words" -> "total";',
      '}',
      '',
    ].join('\n'),
  );
});

test('graph errors: no -manifest, an unknown format, a broken manifest', (t) => {
  const ws = workspace(t, 'tp-inspect-');
  ws.write('m.toml', MANIFEST);
  const none = cli(['graph']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /graph: -manifest FILE is required/);
  const fmt = cli(['graph', '-manifest', ws.path('m.toml'), '-format', 'mermiad']);
  assert.equal(fmt.code, 2);
  assert.match(fmt.stderr, /-format mermiad: unknown format \(did you mean mermaid\?\); use mermaid or dot/);
  ws.write('bad.toml', '[[task]]\nname = "a"\nscirpt = "true"\n');
  const bad = cli(['graph', '-manifest', ws.path('bad.toml')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /scirpt/);
});
