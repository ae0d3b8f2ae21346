// cat and the hash/prefix lookup every object command shares; the error paths of all inspection commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { cli, listObjects, objectPath, sha256, workspace } from './helpers.js';

const CHAIN = `
[[task]]
name = "split"
script = 'split -a 4 -l 1 "$INPUT_FILE" "$OUTPUT_DIR/line-"'

[[task]]
name = "upper"
script = 'tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/up"'
`;

function chainDb(t, text = 'alpha\nbeta\ngamma\n', manifest = CHAIN) {
  const ws = workspace(t, 'tp-inspect-');
  ws.write('m.toml', manifest);
  ws.write('in.txt', text);
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt'), '-quiet']);
  assert.equal(r.code, 0, r.stderr);
  return ws;
}

test('cat prints the exact bytes of an object by full hash and by a unique prefix, upper or lower case', (t) => {
  const ws = chainDb(t);
  const hash = sha256('BETA\n');
  const full = cli(['cat', '-db', ws.db, hash], { encoding: 'buffer' });
  assert.equal(full.code, 0, full.stderr.toString());
  assert.deepEqual(full.stdout, Buffer.from('BETA\n'));
  const prefix = cli(['cat', '--db', ws.db, hash.slice(0, 10).toUpperCase()]);
  assert.equal(prefix.code, 0, prefix.stderr);
  assert.equal(prefix.stdout, 'BETA\n');
  // The whole input file too: a run input is an object like any other.
  assert.equal(cli(['cat', `-db=${ws.db}`, sha256('alpha\nbeta\ngamma\n').slice(0, 6)]).stdout, 'alpha\nbeta\ngamma\n');
});

test('a prefix shared by several objects exits 2 and lists the candidates', (t) => {
  // 3000 distinct one-line objects from one split step: some 4-hex prefixes are bound to be shared.
  const lines = Array.from({ length: 3000 }, (_, i) => `line ${i}`);
  const ws = chainDb(t, `${lines.join('\n')}\n`, CHAIN.slice(0, CHAIN.indexOf('[[task]]', 10)));
  const byPrefix = new Map();
  for (const o of listObjects(ws.db))
    byPrefix.set(o.hash.slice(0, 4), [...(byPrefix.get(o.hash.slice(0, 4)) ?? []), o.hash]);
  const [prefix, hashes] = [...byPrefix].find(([, h]) => h.length >= 2);
  const r = cli(['cat', '-db', ws.db, prefix]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`prefix ${prefix} is ambiguous`));
  for (const h of hashes) assert.ok(r.stderr.includes(h), `${h} listed in\n${r.stderr}`);
  // One more character tells them apart.
  const longer = hashes[0].slice(0, 12);
  assert.equal(cli(['cat', '-db', ws.db, longer]).code, 0);
});

test('a prefix under 4 characters, a non-hex string and an unknown hash exit 2 with a clear message', (t) => {
  const ws = chainDb(t);
  const short = cli(['cat', '-db', ws.db, 'abc']);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /prefix "abc" is too short: give at least 4 hex characters/);
  const notHex = cli(['show', '-db', ws.db, 'xyz123']);
  assert.equal(notHex.code, 2);
  assert.match(notHex.stderr, /"xyz123" is not a hash/);
  const used = new Set(listObjects(ws.db).map((o) => o.hash.slice(0, 4)));
  const free = ['0000', '1111', 'abcd', 'dead', 'beef', 'f00d'].find((p) => !used.has(p));
  const unknown = cli(['cat', '-db', ws.db, free]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, new RegExp(`no object in .* has a hash starting with ${free}`));
  const unknownFull = cli(['lineage', '-db', ws.db, sha256('never stored')]);
  assert.equal(unknownFull.code, 2);
  assert.match(unknownFull.stderr, new RegExp(`no object ${sha256('never stored')}`));
  for (const r of [short, notHex, unknown, unknownFull]) assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('cat of a corrupt object: same size streams then exits 1 naming it; another size exits 1 before any byte', (t) => {
  const ws = chainDb(t);
  const hash = sha256('GAMMA\n');
  chmodSync(objectPath(ws.db, hash), 0o644);
  writeFileSync(objectPath(ws.db, hash), 'GAMMX\n');
  const same = cli(['cat', '-db', ws.db, hash]);
  assert.equal(same.code, 1);
  assert.equal(same.stdout, 'GAMMX\n');
  assert.match(
    same.stderr,
    new RegExp(`corrupt object ${hash}: its 6 bytes hash to ${sha256('GAMMX\n')}: run task-pipeline fsck -repair -db `),
  );
  writeFileSync(objectPath(ws.db, hash), 'much longer than before\n');
  const size = cli(['cat', '-db', ws.db, hash.slice(0, 8)]);
  assert.equal(size.code, 1);
  assert.equal(size.stdout, '');
  assert.match(size.stderr, /corrupt object .* has 24 bytes, expected 6/);
});

test('every db command refuses a missing db with exit 2 and one line', (t) => {
  const ws = workspace(t, 'tp-inspect-');
  const db = ws.path('nowhere');
  const h = sha256('x');
  for (const args of [
    ['status'],
    ['cat', h],
    ['show', h],
    ['lineage', h],
    ['log', '1'],
    ['ls', '-task', 'x'],
    ['export', '-task', 'x', '-out', ws.path('out')],
    ['fsck'],
    ['gc'],
  ]) {
    const r = cli([args[0], '-db', db, ...args.slice(1)]);
    assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /no pipeline db here \(pipeline\.sqlite not found\)/, args[0]);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('a wrong flag exits 2 with the nearest flag suggested; a missing argument says what to give', (t) => {
  const ws = chainDb(t);
  const flag = cli(['status', '-db', ws.db, '-jsn']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /unknown flag -jsn \(did you mean -json\?\)/);
  const dry = cli(['gc', '-db', ws.db, '--dryrun']);
  assert.equal(dry.code, 2);
  assert.match(dry.stderr, /did you mean -dry-run\?/);
  const noHash = cli(['cat', '-db', ws.db]);
  assert.equal(noHash.code, 2);
  assert.match(noHash.stderr, /cat: give one HASH or PREFIX/);
  const noTask = cli(['ls', '-db', ws.db]);
  assert.equal(noTask.code, 2);
  assert.match(noTask.stderr, /ls: -task NAME is required/);
  const noOut = cli(['export', '-db', ws.db, '-task', 'upper']);
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /export: -out DIR is required/);
  const badLimit = cli(['show', '-db', ws.db, 'abcd', '-limit', '0']);
  assert.equal(badLimit.code, 2);
  assert.match(badLimit.stderr, /-limit must be a positive integer/);
});

test('every inspection command has --help with a usage line and an example', () => {
  for (const name of ['status', 'cat', 'show', 'lineage', 'log', 'ls', 'export', 'fsck', 'gc', 'graph']) {
    const r = cli([name, '--help']);
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^usage: task-pipeline ${name} `), name);
    assert.match(r.stdout, new RegExp(`\\nexample:\\n  task-pipeline ${name} `), name);
    assert.doesNotMatch(r.stdout, /not built yet/);
  }
});
