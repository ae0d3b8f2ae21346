// A directory given again is listed, with its files' stats, by the C helper (src/engine/list-dir.ts,
// src/executor/native/list-dir.c) instead of a stat per file from Node: the same files, in the same
// order, with the same stats as the engine's own walk, whatever the directory holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SORTED_MAX, walkFiles, walkListed } from '../dist/engine/input-walk.js';
import { chunkEntries, listDir } from '../dist/engine/list-dir.js';
import { CHUNK_CUTS, DirDigest } from '../dist/store/input-summary.js';
import { helperUsable } from '../dist/executor/spawner-protocol.js';
import { plainStamp } from '../dist/store/input-cache.js';
import { CLI, cli, workspace } from './helpers.js';
import { HAS_STRACE, settle } from './input-trace.js';

const skip = helperUsable() ? false : 'the C helper was not built';

const stampOf = (path) => {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? plainStamp(st) : null;
};
const walked = (dir) => [...walkFiles(dir, '', dir)].map((f) => [f.path, f.name, f.source, stampOf(f.path)]);
const listed = async (dir) => {
  const listing = await listDir(dir);
  assert.ok(listing, `the helper listed ${dir}`);
  assert.equal(listing.chunked, false);
  const out = [];
  for await (const batch of walkListed(dir, listing.entries))
    for (const { file, stamp } of batch)
      out.push([file.path, file.name, file.source, stamp === undefined ? stampOf(file.path) : stamp]);
  return out;
};

test('the helper lists the files the walk finds, in its order, with the stats it would take', { skip }, async (t) => {
  const ws = workspace(t);
  const dir = ws.path('in');
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'a.txt'), 'a\n');
  writeFileSync(join(dir, 'b c.txt'), 'with a space\n');
  writeFileSync(join(dir, 'ünï €.txt'), 'not ascii\n');
  writeFileSync(join(dir, 'empty'), '');
  writeFileSync(join(dir, 'locked'), 'mode 000\n');
  chmodSync(join(dir, 'locked'), 0o000);
  writeFileSync(join(dir, 'sub', 'x.txt'), 'x\n');
  writeFileSync(join(dir, 'sub', 'deeper', 'y'), 'y\n');
  symlinkSync('a.txt', join(dir, 'link-to-file'));
  symlinkSync('sub', join(dir, 'link-to-dir'));
  symlinkSync('nowhere', join(dir, 'dangling'));
  assert.equal(spawnSync('mkfifo', [join(dir, 'fifo')]).status, 0);
  const expected = walked(dir);
  assert.deepEqual(
    expected.map(([, name]) => name),
    ['a.txt', 'b c.txt', 'empty', 'link-to-file', 'locked', 'sub/deeper/y', 'sub/x.txt', 'ünï €.txt'],
  );
  assert.deepEqual(await listed(dir), expected);
});

test('a directory of more than 10,000 entries: the directory order, as the walk takes it', { skip }, async (t) => {
  const ws = workspace(t);
  const dir = ws.path('big');
  mkdirSync(join(dir, 'a-subdir'), { recursive: true });
  writeFileSync(join(dir, 'a-subdir', 'inner'), 'inner\n');
  for (let i = 0; i < 10_050; i++) writeFileSync(join(dir, `f${i}`), `${i}\n`);
  const expected = walked(dir);
  assert.equal(expected.length, 10_051);
  // Not sorted: a directory this big is walked in the order the filesystem lists it.
  assert.notDeepEqual(
    expected.map(([, name]) => name),
    expected.map(([, name]) => name).sort(),
  );
  assert.deepEqual(await listed(dir), expected);
});

test('what the helper cannot list is left to the walk: a missing directory, a file', { skip }, async (t) => {
  const ws = workspace(t);
  assert.equal(await listDir(ws.path('missing')), null);
  assert.equal(await listDir(ws.write('a-file', 'x\n')), null);
});

test('an empty directory is listed empty; a directory of subdirectories only, as the walk', { skip }, async (t) => {
  const ws = workspace(t);
  mkdirSync(ws.path('empty'));
  const listing = await listDir(ws.path('empty'));
  assert.ok(listing, 'an empty directory is listed, not left to the walk');
  assert.deepEqual(await listed(ws.path('empty')), []);
  ws.write('only-dirs/a/x', 'x\n');
  ws.write('only-dirs/b/y', 'y\n');
  mkdirSync(ws.path('only-dirs', 'c'));
  assert.deepEqual(await listed(ws.path('only-dirs')), walked(ws.path('only-dirs')));
});

/** The helper processes this test process has running now. */
const helpersRunning = () =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map((p) => {
      try {
        return readFileSync(`/proc/${p}/stat`, 'utf8');
      } catch {
        return '';
      }
    })
    // pid (comm) state ppid ...: comm is cut at 15 characters.
    .filter((st) => st.includes('(task-pipeline-s)') && st.split(') ')[1]?.split(' ')[1] === String(process.pid));

test('a listing cut short throws; a walk stopped early stops the helper', { skip }, async (t) => {
  const ws = workspace(t);
  const dir = ws.path('many');
  mkdirSync(dir);
  // ~2 MB of listing: far more than a pipe holds, so the helper is still writing after the first batch.
  for (let i = 0; i < 30_000; i++) writeFileSync(join(dir, `file-with-a-longer-name-${i}`), '');
  const listing = (await listDir(dir)).entries;
  const first = await listing.next();
  assert.ok(first.value.length > 0);
  const [helper] = helpersRunning();
  assert.ok(helper, 'the helper is still running after the first batch');
  process.kill(Number(helper.split(' ')[0]), 'SIGKILL');
  await assert.rejects(
    async () => {
      for await (const batch of listing) assert.ok(batch.length > 0);
    },
    { message: `the C helper's listing of ${dir} ended early (SIGKILL)` },
  );

  // A name the check refuses, met while the helper is still listing: the helper is stopped.
  writeFileSync(join(dir, 'a\ttab'), '');
  const again = (await listDir(dir)).entries;
  await assert.rejects(async () => {
    for await (const batch of walkListed(dir, again)) assert.ok(batch.length > 0);
  }, /a name with a tab or newline cannot be an input/);
  await noHelperLeft();
});

/** Every helper this process started has exited (a killed one within 2 s). */
const noHelperLeft = async () => {
  for (let i = 0; i < 100 && helpersRunning().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(helpersRunning(), []);
};

test(
  'a re-run over a summed-up directory leaves its stats to the helper: the engine stats none of its files itself',
  { skip: skip || (!HAS_STRACE && 'strace is not installed') },
  async (t) => {
    const ws = workspace(t);
    const m = ws.write(
      'm.toml',
      '[[task]]\nname = "n"\ninputs = []\nscript = \'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"\'\n',
    );
    const names = Array.from({ length: 20 }, (_, i) => `f${String(i).padStart(2, '0')}.txt`);
    for (const n of names) ws.write(`in/${n}`, `${n}\n`);
    await settle(names.map((n) => ws.path('in', n)));
    const args = ['-manifest', m, '-db', ws.db, '-input', ws.path('in'), '-quiet', '-parallel', '2'];
    assert.equal(cli(args).code, 0);
    ws.write('in/new.txt', 'new\n');
    const trace = ws.path('trace');
    const r = spawnSync(
      'strace',
      ['-f', '-qq', '-e', 'trace=stat,statx,newfstatat,lstat', '-o', trace, process.execPath, CLI, ...args],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const lines = readFileSync(trace, 'utf8').split('\n');
    // The helper stats the files by name, relative to the directory; Node would by their whole path.
    assert.deepEqual(
      lines.filter((l) => /\/in\/f\d\d\.txt"/.test(l)),
      [],
    );
    assert.ok(
      lines.some((l) => /newfstatat\(\d+, "f00\.txt"/.test(l)),
      "the helper stat'ed f00.txt",
    );
    const inputs = cli(['inputs', '-db', ws.db, '-json']);
    assert.equal(inputs.code, 0, inputs.stderr);
    assert.equal(JSON.parse(inputs.stdout).length, 21, inputs.stdout);
  },
);

/** The summary of a directory as the engine's own walk sums it up: digest, chunks, latest, files. */
const walkedSummary = (dir) => {
  const d = new DirDigest();
  const files = [];
  for (const f of walkFiles(dir, '', dir)) {
    const stamp = stampOf(f.path);
    d.add(f.name, stamp);
    files.push([f.name, stamp]);
  }
  return { digest: d.digest(), chunks: d.chunks().toString('hex'), latest: d.latest, files };
};

const CHUNKING = { ...CHUNK_CUTS, sortedMax: SORTED_MAX };

/** An empty directory in the test's workspace. */
const newDir = (t) => {
  const dir = workspace(t).path('big');
  mkdirSync(dir);
  return dir;
};

test(
  "a directory of more than 10,000 files is cut into its summary's chunks by the helper: the walk's digest, chunks and files",
  { skip },
  async (t) => {
    const dir = newDir(t);
    // Names the engine reads as UTF-16 in other ways than their UTF-8 bytes: two- and three-byte
    // characters, and four-byte ones (a surrogate pair in UTF-16), which the chunks' cuts hash.
    const forms = (i) => [`f${i}.txt`, `é ${i}`, `漢字-${i}`, `😀${i}𝄞`, `with space ${i}`][i % 5];
    for (let i = 0; i < 10_050; i++) writeFileSync(join(dir, forms(i)), `${i}\n`);
    assert.equal(spawnSync('mkfifo', [join(dir, 'a-fifo')]).status, 0);
    const expected = walkedSummary(dir);
    assert.equal(expected.files.length, 10_050);

    const listing = await listDir(dir, CHUNKING);
    assert.equal(listing.chunked, true);
    const got = new DirDigest();
    const files = [];
    let chunks = 0;
    for await (const batch of listing.chunks)
      for (const c of batch) {
        got.addChunk(c);
        chunks++;
        // Each chunk's files, added one by one, close the same chunk.
        const again = new DirDigest();
        const entries = chunkEntries(c);
        assert.equal(entries.length, c.files);
        let closed = null;
        for (const e of entries) {
          closed = again.add(e.name, e.stamp) ?? closed;
          files.push([e.name, e.stamp]);
        }
        assert.deepEqual(closed ?? again.close(), { digest: c.digest, files: c.files, latest: c.latest });
      }
    assert.ok(chunks > 100, `${chunks} chunks`);
    assert.deepEqual(
      { digest: got.digest(), chunks: got.chunks().toString('hex'), latest: got.latest, files },
      expected,
    );
  },
);

test(
  'what the helper does not cut into chunks it lists file by file: a subdirectory, a symlink, a name the check refuses or not UTF-8, 10,000 entries or fewer',
  { skip },
  async (t) => {
    const dir = newDir(t);
    for (let i = 0; i < 10_001; i++) writeFileSync(join(dir, `f${i}`), '');
    // A listing not read to its end is returned: the helper is stopped.
    const chunked = async () => {
      const listing = await listDir(dir, CHUNKING);
      assert.equal(listing.chunked, true);
      await listing.chunks.return();
    };
    const plain = async (why) => {
      const listing = await listDir(dir, CHUNKING);
      assert.equal(listing.chunked, false, why);
      await listing.entries.return();
    };
    await chunked();
    const listing = await listDir(dir, { ...CHUNKING, sortedMax: 10_001 });
    assert.equal(listing.chunked, false);
    await listing.entries.return();
    for (const [why, make, undo] of [
      ['a subdirectory', () => mkdirSync(join(dir, 'sub')), () => rmSync(join(dir, 'sub'), { recursive: true })],
      ['a symlink', () => symlinkSync('f1', join(dir, 'link')), () => rmSync(join(dir, 'link'))],
      ['a tab', () => writeFileSync(join(dir, 'a\ttab'), ''), () => rmSync(join(dir, 'a\ttab'))],
      [
        'a name not UTF-8',
        () => writeFileSync(Buffer.from(`${dir}/bad-\xff`, 'latin1'), ''),
        () => rmSync(Buffer.from(`${dir}/bad-\xff`, 'latin1')),
      ],
    ]) {
      make();
      await plain(why);
      undo();
    }
    await chunked();
    await noHelperLeft();
  },
);
