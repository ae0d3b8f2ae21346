// `serve` over plain HTTP (no browser needed): where it listens, whom it answers, what it refuses,
// how it serves untrusted bytes, and that it writes nothing.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ROOT, snapshot, workspace } from './helpers.js';
import { EVIL, EVIL_HASH, EVIL_NAME, getJson, makeFixture, request, startServe } from './serve-fixture.js';

let fx;
let srv;
let before0;
before(async () => {
  fx = makeFixture();
  before0 = snapshot(fx.db);
  srv = await startServe(fx.db);
});
after(async () => {
  await srv?.stop();
  fx?.cleanup();
});

test('serve prints its URL and listens on 127.0.0.1 only', () => {
  assert.match(srv.out(), /^serving \S+ at http:\/\/127\.0\.0\.1:\d+\/ \(Ctrl-C to stop\)\n$/);
  // The kernel's own table of listening sockets: the port is bound to 127.0.0.1 (0100007F), on no other address.
  const hexPort = srv.port.toString(16).toUpperCase().padStart(4, '0');
  const listening = (file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length > 3 && f[3] === '0A' && f[1].endsWith(`:${hexPort}`))
      .map((f) => f[1]);
  assert.deepEqual(listening('/proc/net/tcp'), [`0100007F:${hexPort}`]);
  assert.deepEqual(listening('/proc/net/tcp6'), []);
});

test('pages carry a CSP without inline script, nosniff, and no framing', async () => {
  for (const path of [
    '/',
    '/task/count',
    '/step/1',
    `/object/${EVIL_HASH}`,
    `/lineage/${EVIL_HASH.slice(0, 8)}`,
    '/search?q=x',
    '/api/overview',
  ]) {
    const r = await request(srv.port, path);
    assert.equal(r.status, 200, path);
    const csp = r.headers['content-security-policy'];
    assert.match(csp, /default-src 'self'/, path);
    assert.match(csp, /script-src 'self'(;|$)/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    assert.match(csp, /object-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
  }
  const page = await request(srv.port, '/');
  assert.match(page.headers['content-type'], /^text\/html; charset=utf-8$/);
  assert.doesNotMatch(page.text, /<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script in the page');
  const js = await request(srv.port, '/assets/dagre.min.js');
  assert.equal(js.status, 200);
  assert.match(js.headers['content-type'], /^text\/javascript/);
  assert.match(js.text, /@license/, 'the layout library is served with its license notice');
});

test('a foreign Host header is refused (DNS rebinding); 127.0.0.1:PORT and localhost:PORT are served', async () => {
  for (const host of [
    'evil.example',
    `evil.example:${srv.port}`,
    `127.0.0.1:${srv.port + 1}`,
    `127.0.0.2:${srv.port}`,
    `[::1]:${srv.port}`,
    `localhost.:${srv.port}`,
  ]) {
    const r = await request(srv.port, '/api/overview', { host });
    assert.equal(r.status, 403, `Host: ${host}`);
    assert.doesNotMatch(r.text, /split|count/, 'nothing of the db in the refusal');
  }
  // No Host at all (HTTP/1.0 may leave it out): refused too.
  const bare = await new Promise((resolve, reject) => {
    let got = '';
    const sock = connect(srv.port, '127.0.0.1', () => sock.end('GET /api/overview HTTP/1.0\r\n\r\n'));
    sock.on('data', (c) => (got += c));
    sock.on('end', () => resolve(got));
    sock.on('error', reject);
  });
  assert.match(bare, /^HTTP\/1\.1 403 /);
  assert.equal((await request(srv.port, '/api/overview', { host: `localhost:${srv.port}` })).status, 200);
  assert.equal((await request(srv.port, '/api/overview', { host: `LOCALHOST:${srv.port}` })).status, 200);
});

test('malformed ids, traversal and unknown things get 400 or 404; only GET and HEAD are allowed', async () => {
  const expect = {
    '/step/abc': 400,
    '/step/0': 400,
    '/step/-1': 400,
    '/step/1.5': 400,
    '/api/step/abc': 400,
    '/api/step/99999': 404,
    '/object/zz': 400,
    '/object/abc': 400,
    '/object/ABCD': 400,
    [`/object/${'a'.repeat(65)}`]: 400,
    '/api/object/abc': 400,
    [`/api/object/${'0'.repeat(64)}`]: 404,
    '/api/task/nope': 404,
    '/api/task/..': 400,
    '/task/%2e%2e': 400,
    '/raw/../../pipeline.sqlite': 404,
    '/raw/..%2F..%2Fpipeline.sqlite': 400,
    '/raw/abcd': 400,
    [`/raw/${'0'.repeat(64)}`]: 404,
    '/assets/../../package.json': 404,
    '/assets/..%2F..%2Fpackage.json': 404,
    '/assets/app.js/..': 404,
    '/../../etc/passwd': 404,
    '/object/../../../etc/passwd': 404,
    '/api/task/count/steps?status=bogus': 400,
    '/api/task/count/steps?after=-3': 400,
    '/api/lineage/abcd?depth=0': 400,
    '/nothing': 404,
  };
  for (const [path, status] of Object.entries(expect)) {
    const r = await request(srv.port, path);
    assert.equal(r.status, status, `${path}: ${r.text}`);
    assert.doesNotMatch(r.text, /SQLite format|root:x:0/, path);
  }
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const r = await request(srv.port, '/api/overview', { method });
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.allow, 'GET, HEAD');
  }
  const head = await request(srv.port, `/raw/${EVIL_HASH}`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
});

test('object bytes are served as a download or as plain text, never as HTML', async () => {
  const raw = await request(srv.port, `/raw/${EVIL_HASH}`);
  assert.equal(raw.status, 200);
  assert.equal(raw.text, EVIL);
  assert.equal(raw.headers['content-type'], 'application/octet-stream');
  assert.equal(raw.headers['content-disposition'], `attachment; filename="${EVIL_HASH}"`);
  assert.equal(raw.headers['x-content-type-options'], 'nosniff');
  assert.match(raw.headers['content-security-policy'], /sandbox/);
  const inline = await request(srv.port, `/raw/${EVIL_HASH}?inline=1`);
  assert.equal(inline.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(inline.headers['x-content-type-options'], 'nosniff');
  assert.equal(inline.text, EVIL);
  // In JSON the bytes and names are data, served as application/json.
  const obj = await request(srv.port, `/api/object/${EVIL_HASH.slice(0, 6)}`);
  assert.equal(obj.headers['content-type'], 'application/json; charset=utf-8');
  const o = JSON.parse(obj.text);
  assert.equal(o.hash, EVIL_HASH);
  assert.equal(o.preview.text, EVIL);
  assert.ok(o.producedBy.some((p) => p.name === EVIL_NAME));
});

test('the JSON behind the pages: counts, keyset pages, a step with its log, lineage, search', async () => {
  let ov;
  const end = Date.now() + 20_000;
  while (!(ov = await getJson(srv.port, '/api/overview')).status.status && Date.now() < end)
    await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(
    ov.tasks.map((t) => t.name),
    ['split', 'count', 'total', 'check'],
  );
  assert.deepEqual(
    ov.edges.map((e) => `${e.from}>${e.to}`),
    ['split>count', 'split>check', 'count>total'],
  );
  const counts = Object.fromEntries(
    ov.status.status.tasks.map((t) => [t.name, [t.done, t.failed, t.pending + t.running]]),
  );
  assert.deepEqual(counts, { split: [2, 0, 0], count: [4, 0, 0], total: [1, 0, 0], check: [3, 1, 0] });
  assert.equal(ov.runs.length, 1);
  assert.equal(ov.runs[0].exitCode, 1);
  assert.equal(ov.runs[0].summary.failures, 1);

  const all = await getJson(srv.port, '/api/task/count/steps');
  assert.equal(all.steps.length, 4);
  assert.deepEqual(all.counts, { pending: 0, running: 0, done: 4, failed: 0 });
  const ids = all.steps.map((s) => s.id);
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => a - b),
  );
  const rest = await getJson(srv.port, `/api/task/count/steps?status=done&after=${ids[1]}`);
  assert.deepEqual(
    rest.steps.map((s) => s.id),
    ids.slice(2),
  );
  assert.equal(rest.next, null);
  const back = await getJson(srv.port, `/api/task/count/steps?before=${ids[2]}`);
  assert.deepEqual(
    back.steps.map((s) => s.id),
    ids.slice(0, 2),
  );

  const failed = (await getJson(srv.port, '/api/task/check/steps?status=failed')).steps[0];
  const step = await getJson(srv.port, `/api/step/${failed.id}`);
  assert.equal(step.exitCode, 3);
  assert.equal(step.log.text, `refusing markup:\n${EVIL}`);
  assert.equal(step.upstream[0].task, 'split');

  const total = (await getJson(srv.port, '/api/task/total/steps')).steps[0];
  const out = (await getJson(srv.port, `/api/step/${total.id}`)).outputs[0];
  const tree = await getJson(srv.port, `/api/lineage/${out.hash}`);
  assert.equal(tree.root.producers[0].task, 'total');
  assert.ok(JSON.stringify(tree).includes('"runInputs":["evil.html"]'));

  const byName = await getJson(srv.port, `/api/search?q=${encodeURIComponent(EVIL_NAME)}`);
  assert.equal(byName.outputs.length, 4);
  const byStep = await getJson(srv.port, `/api/search?q=${failed.id}`);
  assert.equal(byStep.steps[0].task, 'check');
  const byHash = await getJson(srv.port, `/api/search?q=${EVIL_HASH.slice(0, 5)}`);
  assert.equal(byHash.objects[0].hash, EVIL_HASH);
});

test('serving and every request above changed nothing in the db directory', () => {
  assert.deepEqual(snapshot(fx.db), before0);
});

test('the -report file is self-contained, scriptless, and shows the failure log as text', () => {
  const html = readFileSync(fx.report, 'utf8');
  for (const id of ['summary', 'timeline', 'durations', 'resources', 'failures'])
    assert.match(html, new RegExp(`<section id="${id}">`));
  assert.match(
    html,
    /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">/,
  );
  assert.doesNotMatch(
    html,
    /<(script|img|link|iframe|object|embed)\b/i,
    'no script and no element that loads anything',
  );
  assert.doesNotMatch(html, /https?:|url\(/i, 'no external reference');
  assert.ok(html.includes('&#60;script&#62;alert(1)&#60;/script&#62;'), 'the markup in the log is escaped');
  assert.match(html, /check step \d+/);
});

test('CPU and peak RSS of the latest attempt show on the step page and per task in the report', async (t) => {
  const ws = workspace(t, 'tp-serve-res-');
  cpSync(fx.db, ws.db, { recursive: true });
  // In a child process: a process that opened SQLite read-write first cannot open a db `immutable` after (database.ts).
  const alter = spawnSync(
    process.execPath,
    [
      '-e',
      `const D = require('better-sqlite3'); const d = new D(process.argv[1]);
    d.exec('UPDATE attempt SET cpu_user_ms = 10 * step_id, cpu_sys_ms = step_id, max_rss_kb = 1000 + step_id');
    d.close();`,
      join(ws.db, 'pipeline.sqlite'),
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.equal(alter.status, 0, alter.stderr);
  const { step } = await import('../dist/serve/api.js');
  const { writeRunReport } = await import('../dist/serve/report.js');
  const one = await step({ dbDir: ws.db }, '2');
  assert.deepEqual(one.resources, { cpu_user_ms: 20, cpu_sys_ms: 2, max_rss_kb: 1002 });
  const file = ws.path('r.html');
  await writeRunReport(ws.db, 1, file);
  const html = readFileSync(file, 'utf8');
  assert.match(html, /<th>cpu_user_ms \(sum\)<\/th><th>cpu_sys_ms \(sum\)<\/th><th>max_rss_kb \(max\)<\/th>/);
  assert.match(
    html,
    /<tr><td>split<\/td><td class="n">30<\/td><td class="n">3<\/td><td class="n">1002<\/td><\/tr>/,
    'split: steps 1 and 2',
  );
});
