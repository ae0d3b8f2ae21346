// The inspection commands only read: no file of the db directory is created, changed or removed
// (not even SQLite's -wal and -shm), they work where nothing can be written, only a run migrates,
// and commits that a killed run left only in the -wal are shown, or their absence is said.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT, cli, workspace } from './helpers.js';

const { SCHEMA_VERSION } = await import(join(ROOT, 'dist/store/schema.js'));
const SQLITE = join(ROOT, 'node_modules/better-sqlite3/lib/index.js');

const MANIFEST = `[[task]]
name = "split"
script = 'split -l 1 "$INPUT_FILE" "$OUTPUT_DIR/line-"'

[[task]]
name = "upper"
script = 'tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/up"'

[[task]]
name = "total"
gather = true
script = 'cat "$INPUT_DIR"/* | wc -l > "$OUTPUT_DIR/lines"'
`;

/** Every entry under dir (the dir itself too): type, size, mtime, mode; so nothing may appear, go or change. */
function snapshot(dir) {
  const out = {};
  const walk = (p) => {
    const st = lstatSync(p);
    out[relative(dir, p) || '.'] = `${st.isDirectory() ? 'd' : 'f'} ${st.size} ${st.mtimeMs} ${st.mode}`;
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(dir);
  return out;
}

/** A db made by a real run, with every kind of thing an inspection command looks at. */
function makeDb(t) {
  const ws = workspace(t);
  ws.write('m.toml', MANIFEST);
  ws.write('notes.txt', 'alpha\nbeta\n');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('notes.txt'), '-quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(join(ws.db, 'pipeline.sqlite-wal')), false, 'a finished run leaves no -wal');
  const ls = cli(['ls', '-db', ws.db, '-task', 'upper']);
  const hash = ls.stdout.split('\n')[0].split('\t')[1];
  return { ws, hash };
}

function inspections(db, hash, out) {
  return [
    ['status'],
    ['status', '-all', '-json'],
    ['inputs'],
    ['inputs', '-all', '-json'],
    ['cat', hash],
    ['show', hash],
    ['lineage', hash],
    ['log', '1'],
    ['ls', '-task', 'upper'],
    ['ls', '-task', 'total', '-all', '-json'],
    ['export', '-task', 'upper', '-out', out],
    ['fsck'],
  ].map((a) => [a[0], '-db', db, ...a.slice(1)]);
}

test('every inspection command leaves the db directory exactly as it was (a copy made read-only with chmod)', async (t) => {
  const { ws, hash } = makeDb(t);
  const copy = ws.path('copy');
  cpSync(ws.db, copy, { recursive: true });
  execFileSync('chmod', ['-R', 'a-w', copy]);
  t.after(() => spawnSync('chmod', ['-R', 'u+w', copy]));
  const expected = {};
  for (const args of inspections(ws.db, hash, ws.path('out-a')))
    expected[args[0] + args.slice(3).join(' ')] = cli(args).stdout;
  let n = 0;
  for (const args of inspections(copy, hash, ws.path(`out-${n}`))) {
    const before = snapshot(copy);
    const r = cli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, '', args.join(' '));
    assert.deepEqual(snapshot(copy), before, `${args.join(' ')} changed the db directory`);
    if (args[0] !== 'export')
      assert.equal(r.stdout.replaceAll(copy, ws.db), expected[args[0] + args.slice(3).join(' ')], args.join(' '));
    n++;
  }
  // The writers take the lock, and say plainly where they cannot.
  const gc = cli(['gc', '-db', copy]);
  if (process.getuid?.() !== 0) assert.equal(gc.code, 2, gc.stderr);
});

function setVersion(dbFile, v) {
  const r = spawnSync(process.execPath, [
    '-e',
    `const D = require(${JSON.stringify(SQLITE)}); const d = new D(${JSON.stringify(dbFile)}); d.pragma('user_version = ${v}'); d.close();`,
  ]);
  assert.equal(r.status, 0, String(r.stderr));
}

test('a db of an older schema is refused in one line (only a run migrates); a newer one too', async (t) => {
  const { ws, hash } = makeDb(t);
  const file = join(ws.db, 'pipeline.sqlite');
  setVersion(file, SCHEMA_VERSION - 1);
  const before = snapshot(ws.db);
  for (const args of [
    ...inspections(ws.db, hash, ws.path('out')),
    ['gc', '-db', ws.db],
    ['inputs', 'rm', '-db', ws.db, 'x'],
  ]) {
    const r = cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(
      r.stderr,
      `task-pipeline: ${file}: schema version ${SCHEMA_VERSION - 1} is older than this engine's ${SCHEMA_VERSION}: ` +
        `run the manifest once (task-pipeline -manifest m.toml -db ${ws.db}): a run migrates it\n`,
      args.join(' '),
    );
  }
  assert.deepEqual(snapshot(ws.db), before, 'nothing migrated, nothing written');

  setVersion(file, SCHEMA_VERSION + 1);
  for (const args of [
    ['status', '-db', ws.db],
    ['gc', '-db', ws.db],
  ]) {
    const r = cli(args);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `task-pipeline: ${file}: schema version ${SCHEMA_VERSION + 1} is newer than this engine's ${SCHEMA_VERSION}; upgrade task-pipeline to read it\n`,
    );
  }
});

/**
 * A db whose latest commit is only in its -wal, as a run killed with -9 leaves it: a run row
 * with exit code 77 committed by a process that is then killed before any checkpoint.
 */
function crashWithWal(db) {
  const script = `const D = require(${JSON.stringify(SQLITE)}); const d = new D(${JSON.stringify(join(db, 'pipeline.sqlite'))});
    d.pragma('wal_autocheckpoint = 0');
    d.prepare("INSERT INTO run(manifest, pid, started_at, finished_at, exit_code) VALUES ('x', 1, 0, 1000, 77)").run();
    process.kill(process.pid, 'SIGKILL');`;
  const r = spawnSync(process.execPath, ['-e', script]);
  assert.equal(r.signal, 'SIGKILL', String(r.stderr));
  assert.ok(lstatSync(join(db, 'pipeline.sqlite-wal')).size > 0, 'the commit is in the -wal');
}

test('a db left with a -wal by a killed run: the inspection commands show its latest commits, and change neither the db nor the -wal', async (t) => {
  const { ws } = makeDb(t);
  crashWithWal(ws.db);
  const keep = (s) => Object.fromEntries(Object.entries(s).filter(([k]) => !k.endsWith('-shm')));
  const before = keep(snapshot(ws.db));
  const r = cli(['status', '-db', ws.db]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /latest run 2: finished 1970-01-01T00:00:01\.000Z, exit 77/);
  // SQLite's read-only WAL mode may write to the -shm (its index of the -wal): nothing else.
  assert.deepEqual(keep(snapshot(ws.db)), before);
});

test('on a read-only filesystem (a tmpfs mounted read-only): every inspection works; a -wal without its -shm is said in one line', async (t) => {
  const { ws, hash } = makeDb(t);
  // Outside the workspace, which is removed before this test's own clean-up runs.
  const mnt = mkdtempSync(join(tmpdir(), 'tp-ro-'));
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]);
  if (mount.status !== 0) {
    rmSync(mnt, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs here (${String(mount.stderr).trim() || mount.error?.message}): needs root`);
    return;
  }
  t.after(() => {
    spawnSync('umount', ['-l', mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });
  const clean = join(mnt, 'clean');
  const crashed = join(mnt, 'crashed');
  const noShm = join(mnt, 'no-shm');
  cpSync(ws.db, clean, { recursive: true });
  crashWithWal(ws.db);
  cpSync(ws.db, crashed, { recursive: true });
  cpSync(ws.db, noShm, { recursive: true });
  rmSync(join(noShm, 'pipeline.sqlite-shm'));
  assert.equal(spawnSync('mount', ['-o', 'remount,ro', mnt]).status, 0);

  for (const args of inspections(clean, hash, ws.path('out'))) {
    const r = cli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  // The writers say plainly that they cannot write here.
  for (const args of [
    ['gc', '-db', clean],
    ['inputs', 'rm', '-db', clean, 'x'],
    ['-manifest', ws.path('m.toml'), '-db', clean],
  ]) {
    const w = cli(args);
    assert.equal(w.code, 2, `${args.join(' ')}: ${w.stderr}`);
    assert.match(w.stderr, /^task-pipeline: .*(cannot open it for writing|is not writable \(EROFS\))/);
    assert.equal(w.stderr.split('\n').length, 2, w.stderr);
  }

  const r = cli(['status', '-db', crashed]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /exit 77/, 'the commit only in the -wal is seen');

  const lost = cli(['status', '-db', noShm]);
  assert.equal(lost.code, 2);
  assert.match(
    lost.stderr,
    /^task-pipeline: .*pipeline\.sqlite: its latest commits are in pipeline\.sqlite-wal, which cannot be read here .*run the manifest once where the db is writable/,
  );
  assert.equal(lost.stderr.split('\n').length, 2, lost.stderr);
});
