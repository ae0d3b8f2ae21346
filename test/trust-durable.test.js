// -durable, checked on the system calls themselves (strace): every object's bytes and every directory on its path
// are fsynced before the fsync of the SQLite commit that names it, in the engine and in the C helper alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CLI, cli, listObjects, workspace } from './helpers.js';

const MANIFEST = `
[[task]]
name = "up"
inputs = []
script = 'tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME.up"; echo same > "$OUTPUT_DIR/$INPUT_NAME.same"'

[[task]]
name = "all"
inputs = ["up"]
gather = true
script = 'cat "$INPUT_DIR"/* > "$OUTPUT_DIR/all.txt"'
`;

const SYSCALLS = 'fsync,fdatasync,rename,renameat,renameat2,mkdir,mkdirat,write';
const hasStrace = !spawnSync('strace', ['-V']).error;

function setup(t) {
  const ws = workspace(t, 'tp-durable-');
  // Real paths: strace prints an fd's path as the kernel knows it.
  const dir = realpathSync(ws.dir);
  ws.write('m.toml', MANIFEST);
  for (let i = 0; i < 5; i++) ws.write(`in/i${i}.txt`, `item ${i}\n`);
  return {
    ws,
    dir,
    args: (db, ...extra) => ['-manifest', join(dir, 'm.toml'), '-db', join(dir, db), '-quiet', ...extra],
  };
}

/** Run the CLI under strace; the trace as events { pid, name, args, start, end, ok }, by line number. */
function traced(file, args, env = {}) {
  const r = spawnSync(
    'strace',
    ['-f', '-y', '-s', '65536', '-e', `trace=${SYSCALLS}`, '-o', file, process.execPath, CLI, ...args],
    { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return parseTrace(spawnSync('cat', [file], { encoding: 'utf8', maxBuffer: 1 << 30 }).stdout);
}

function parseTrace(text) {
  const events = [];
  const pending = new Map();
  const lines = text.split('\n');
  const result = (s) => {
    const at = s.lastIndexOf(' = ');
    return at >= 0 && !s.slice(at + 3).startsWith('-');
  };
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\d+)\s+(.*)$/.exec(lines[i]);
    if (!m) continue;
    const pid = Number(m[1]);
    const rest = m[2];
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(rest);
    if (resumed) {
      const ev = pending.get(`${pid} ${resumed[1]}`);
      if (ev) {
        ev.end = i;
        ev.ok = result(resumed[2]);
        pending.delete(`${pid} ${resumed[1]}`);
      }
      continue;
    }
    const call = /^(\w+)\((.*)$/.exec(rest);
    if (!call) continue;
    const ev = { pid, name: call[1], args: call[2], start: i, end: i, ok: false };
    if (rest.endsWith('<unfinished ...>')) {
      ev.end = Infinity;
      pending.set(`${pid} ${ev.name}`, ev);
    } else {
      ev.ok = result(rest);
    }
    events.push(ev);
  }
  const strings = (ev) => [...ev.args.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]);
  const fdPath = (ev) => /^\d+<([^>]*)>/.exec(ev.args)?.[1];
  return {
    fsyncs: events
      .filter((e) => (e.name === 'fsync' || e.name === 'fdatasync') && e.ok)
      .map((e) => ({ ...e, path: fdPath(e) })),
    renames: events
      .filter((e) => e.name.startsWith('rename') && e.ok)
      .map((e) => ({ ...e, src: strings(e)[0], dst: strings(e)[1] })),
    mkdirs: events.filter((e) => e.name.startsWith('mkdir') && e.ok).map((e) => ({ ...e, path: strings(e)[0] })),
    writes: events.filter((e) => e.name === 'write'),
  };
}

/**
 * What -durable promises, checked on a trace of a run on `db`: a list of what is missing. For each object the
 * run placed (renamed into objects/) or found present (fsynced there): its bytes fsynced, its shard fsynced after
 * the rename, and objects/AB, objects/ and the db directory each fsynced after the mkdir of the directory below
 * (when this run made it); all before the first commit fsync (of pipeline.sqlite-wal) that can name it: after the
 * rename in the engine, or after the C helper's reply that names the hash.
 */
function durableGaps(trace, db) {
  const wal = trace.fsyncs.filter((f) => f.path === join(db, 'pipeline.sqlite-wal'));
  if (wal.length === 0) return ['no commit was fsynced'];
  const engine = wal[0].pid;
  const objects = join(db, 'objects');
  const gaps = [];
  const commitAfter = (ev, hash) => {
    let told = ev;
    if (ev.pid !== engine)
      told = trace.writes.find((w) => w.pid === ev.pid && w.start > ev.end && w.args.includes(hash));
    if (!told) return undefined;
    return wal.find((w) => w.start > told.end);
  };
  const synced = (path, after, before) =>
    trace.fsyncs.some((f) => f.path === path && f.start > after && f.end < before);
  const made = (path) => trace.mkdirs.find((m) => m.path === path)?.end ?? -1;
  const check = (final, ev, hash, what) => {
    const commit = commitAfter(ev, hash);
    if (!commit) return gaps.push(`${what} ${hash.slice(0, 12)}: no commit after it`);
    const shard = dirname(final);
    const from = ev.name.startsWith('rename') ? ev.end : -1;
    if (!synced(shard, from, commit.start))
      gaps.push(`${what} ${hash.slice(0, 12)}: shard not fsynced before its commit`);
    for (const [child, parent] of [
      [shard, dirname(shard)],
      [dirname(shard), objects],
      [objects, db],
    ]) {
      if (!synced(parent, made(child), commit.start))
        gaps.push(`${what} ${hash.slice(0, 12)}: ${parent} not fsynced (after ${child} was made) before its commit`);
    }
  };
  const hashOf = (final) => final.slice(objects.length + 1).replaceAll('/', '');
  const renamed = new Set();
  for (const r of trace.renames.filter((e) => e.dst.startsWith(`${objects}/`))) {
    renamed.add(r.dst);
    const hash = hashOf(r.dst);
    if (!trace.fsyncs.some((f) => (f.path === r.src || f.path === r.dst) && f.end < r.start))
      gaps.push(`object ${hash.slice(0, 12)}: bytes not fsynced before the rename`);
    check(r.dst, r, hash, 'object');
  }
  for (const f of trace.fsyncs.filter(
    (e) => e.path.startsWith(`${objects}/`) && e.path.split('/').length === objects.split('/').length + 3,
  )) {
    if (!renamed.has(f.path)) check(f.path, f, hashOf(f.path), 'present object');
  }
  return gaps;
}

/** The objects a trace shows fsynced: renamed in after an fsync, or fsynced in place. */
function fsyncedObjects(trace, db) {
  const objects = join(db, 'objects');
  const out = new Set(trace.fsyncs.filter((f) => f.path.startsWith(`${objects}/`)).map((f) => f.path));
  for (const r of trace.renames) if (trace.fsyncs.some((f) => f.path === r.src && f.end < r.start)) out.add(r.dst);
  return out;
}

for (const [executor, env] of [
  ['the C helper (or its fallback)', {}],
  ['execa', { TASK_PIPELINE_EXECUTOR: 'execa' }],
]) {
  test(`-durable through ${executor}: objects, new shards and their parents are fsynced before the commit that names them`, async (t) => {
    if (!hasStrace) return t.skip('strace is not installed: the order of fsyncs is not checked (.ci/run installs it)');
    const { dir, args } = setup(t);
    const trace = traced(join(dir, 'durable.strace'), args('durable', '-input', join(dir, 'in'), '-durable'), env);
    const db = join(dir, 'durable');
    assert.deepEqual(durableGaps(trace, db), []);
    // Every object in the store was placed by this run, each one fsynced.
    const fsynced = fsyncedObjects(trace, db);
    const stored = listObjects(db);
    assert.ok(stored.length >= 8);
    for (const o of stored) assert.ok(fsynced.has(o.path), `${o.hash} was not fsynced`);
    // New shards were made, and their parents are among what was checked.
    assert.ok(
      trace.mkdirs.some(
        (m) => m.path.startsWith(join(db, 'objects') + '/') && m.path.split('/').length === db.split('/').length + 3,
      ),
    );

    // The same outputs, objects already present from a run without -durable: each is fsynced in place.
    const plain = cli(args('plain', '-input', join(dir, 'in')), { env });
    assert.equal(plain.code, 0, plain.stderr);
    const again = traced(join(dir, 'again.strace'), args('plain', '-durable', '-force', 'up'), env);
    const plainDb = join(dir, 'plain');
    assert.deepEqual(durableGaps(again, plainDb), []);
    const ls = JSON.parse(cli(['ls', '-db', plainDb, '-task', 'up', '-json']).stdout);
    assert.equal(ls.length, 10);
    const present = fsyncedObjects(again, plainDb);
    for (const o of ls)
      assert.ok(
        present.has(listObjects(plainDb).find((x) => x.hash === o.hash).path),
        `${o.name} (present) was not fsynced`,
      );
    assert.equal(
      again.renames.filter((r) => r.dst.startsWith(join(plainDb, 'objects'))).length,
      0,
      'nothing new was stored',
    );

    // The check can fail: a run without -durable falls short of it.
    const loose = traced(join(dir, 'loose.strace'), args('loose', '-input', join(dir, 'in')), env);
    assert.notDeepEqual(durableGaps(loose, join(dir, 'loose')), []);
  });
}

test('-durable and a plain run store the same objects', async (t) => {
  const { ws, dir, args } = setup(t);
  const plain = cli(args('plain', '-input', join(dir, 'in')));
  const durable = cli(args('durable', '-input', join(dir, 'in'), '-durable'));
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(durable.code, 0, durable.stderr);
  const hashes = (db) =>
    listObjects(ws.path(db))
      .map((o) => o.hash)
      .sort();
  assert.deepEqual(hashes('durable'), hashes('plain'));
});
