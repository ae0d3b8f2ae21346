// fsck -repair: a corrupt object leaves the store, the steps that made it run again, a damaged input is named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cli, objectPath, sha256, workspace } from './helpers.js';

const M = `
[[task]]
name = "upper"
script = 'tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/up"'

[[task]]
name = "count"
script = 'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"'
`;

function corrupt(db, hash, bytes) {
  const p = objectPath(db, hash);
  chmodSync(p, 0o644);
  writeFileSync(p, bytes);
}

test('fsck -repair moves a corrupt output aside, its step runs again, and the store is whole', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', M);
  ws.write('in/a.txt', 'alpha\n');
  ws.write('in/b.txt', 'beta\n');
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-quiet']).code, 0);
  const up = sha256('ALPHA\n');
  corrupt(ws.db, up, 'ALPHA!\n');

  let r = cli(['fsck', '-db', ws.db]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`^corrupt   ${up}: `, 'm'));

  r = cli(['fsck', '-db', ws.db, '-repair']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /^repair: 1 corrupt object moved to .*damaged; 1 step that produced damaged objects is pending again: run the manifest to rebuild them$/m,
  );
  assert.equal(readFileSync(ws.path('db', 'damaged', up), 'utf8'), 'ALPHA!\n');
  assert.equal(existsSync(objectPath(ws.db, up)), false);

  r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^upper +1 +/m);
  assert.equal(readFileSync(objectPath(ws.db, up), 'utf8'), 'ALPHA\n');
  r = cli(['fsck', '-db', ws.db]);
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /; ok$/m);
});

test('fsck -repair names a damaged run input with the -input that restores it (exit 1)', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', M);
  ws.write('in/a.txt', 'alpha\n');
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-quiet']).code, 0);
  corrupt(ws.db, sha256('alpha\n'), 'alpHa\n');
  const r = cli(['fsck', '-db', ws.db, '-repair']);
  assert.equal(r.code, 1);
  assert.match(
    r.stdout,
    new RegExp(
      `^repair: run input "a\\.txt" \\(${sha256('alpha\n').slice(0, 12)}\\) is damaged and only you have its bytes: give it again with -input ${ws.path('in').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`,
      'm',
    ),
  );
  // Giving it again restores the object; the store is whole.
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-quiet']).code, 0);
  assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
});

test('gc -history drops old versions and replaced inputs, then frees what only they held; -dry-run changes nothing', async (t) => {
  const ws = workspace(t);
  const run = () => cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-quiet']);
  ws.write('m.toml', M);
  ws.write('in/a.txt', 'alpha\n');
  assert.equal(run().code, 0);
  // A new version of upper (other bytes), and a.txt replaced: the old results are history.
  ws.write('m.toml', M.replace('tr a-z A-Z', 'rev | tr a-z A-Z'));
  ws.write('in/a.txt', 'gamma\n');
  assert.equal(run().code, 0);
  const old = [sha256('alpha\n'), sha256('ALPHA\n')];
  for (const h of old) assert.ok(existsSync(objectPath(ws.db, h)), h);
  const ls = cli(['ls', '-db', ws.db, '-task', 'count']).stdout;

  let r = cli(['gc', '-db', ws.db, '-history', '-dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^gc: would drop the history: 2 steps, 1 old task version, 1 replaced or retired input$/m);
  assert.match(r.stdout, new RegExp(`^would delete ${sha256('ALPHA\n')}  `, 'm'));
  for (const h of old) assert.ok(existsSync(objectPath(ws.db, h)), h);
  assert.match(cli(['status', '-db', ws.db, '-all']).stdout, / old /);

  r = cli(['gc', '-db', ws.db, '-history']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^gc: dropped the history: 2 steps, 1 old task version, 1 replaced or retired input$/m);
  assert.match(r.stdout, /gc: deleted [1-9]\d* object files? /);
  for (const h of [sha256('alpha\n'), sha256('ALPHA\n')]) assert.equal(existsSync(objectPath(ws.db, h)), false, h);
  // The current graph is untouched, the store is whole, and a re-run has nothing to do.
  assert.equal(cli(['ls', '-db', ws.db, '-task', 'count']).stdout, ls);
  assert.doesNotMatch(cli(['status', '-db', ws.db, '-all']).stdout, / old /);
  assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
  assert.match(
    cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in')]).stdout,
    /done: 0 steps run/,
  );
  assert.deepEqual(
    JSON.parse(cli(['inputs', '-db', ws.db, '-all', '-json']).stdout).map((i) => i.hash),
    [sha256('gamma\n')],
  );
});
