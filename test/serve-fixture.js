// Shared by the serve tests: a db made by a real run, with hostile bytes and names in it, and
// the real `serve` command started on it as a child process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, cliSpawn, sha256 } from './helpers.js';

export const EVIL = '<script>alert(1)</script>';
export const EVIL_NAME = '<img src=x onerror=alert(1)>';
export const EVIL_HASH = sha256(EVIL);

// split -> count -> total (a gather over count's `n`), split -> check (fails on markup, printing it).
export const MANIFEST = `
[[task]]
name = "split"
script = 'split -l 1 "$INPUT_FILE" "$OUTPUT_DIR/part-"'

[[task]]
name = "count"
script = '''
wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"
cp "$INPUT_FILE" "$OUTPUT_DIR/${EVIL_NAME}"
'''

[[task]]
name = "total"
inputs = ["count"]
match = ["n"]
gather = true
script = 'cat "$INPUT_DIR"/* | awk "{s+=\\$1} END {print s}" > "$OUTPUT_DIR/total"'

[[task]]
name = "check"
inputs = ["split"]
script = '''
if grep -q script "$INPUT_FILE"; then echo "refusing markup:"; cat "$INPUT_FILE"; exit 3; fi
cp "$INPUT_FILE" "$OUTPUT_DIR/ok"
'''
`;

/** A temp dir holding the db after one run (exit 1: check fails once) and its -report file. */
export function makeFixture() {
  const dir = mkdtempSync(join(tmpdir(), 'tp-serve-'));
  mkdirSync(join(dir, 'in'));
  writeFileSync(join(dir, 'm.toml'), MANIFEST);
  writeFileSync(join(dir, 'in', 'fruit.txt'), 'pear\napple\nkiwi\n');
  writeFileSync(join(dir, 'in', 'evil.html'), EVIL);
  const db = join(dir, 'db');
  const report = join(dir, 'report.html');
  const r = cli(['-manifest', join(dir, 'm.toml'), '-db', db, '-input', join(dir, 'in'), '-report', report, '-quiet']);
  if (r.code !== 1) throw new Error(`fixture run: exit ${r.code}, expected 1 (check fails on the markup)\n${r.stderr}`);
  return { dir, db, report, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `task-pipeline serve` on db, resolved once it prints its URL. */
export async function startServe(db, args = []) {
  const child = cliSpawn(['serve', '-db', db, ...args]);
  let out = '';
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no URL in 20 s; stderr: ${err}`)), 20_000);
    child.stdout.on('data', (c) => {
      out += c;
      const m = /at (http:\/\/\S+\/) \(Ctrl-C to stop\)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  const closed = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return {
    child,
    url,
    out: () => out,
    err: () => err,
    port: Number(new URL(url).port),
    async stop() {
      child.kill('SIGTERM');
      return closed;
    },
  };
}

/** A raw HTTP request: the path is sent as given (no normalising of ../), the Host header as chosen. */
export function request(port, path, { method = 'GET', host = `127.0.0.1:${port}` } = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers: { host }, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body, text: body.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

export async function getJson(port, path) {
  const r = await request(port, path);
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.text}`);
  return JSON.parse(r.text);
}

/** Debian's chromium, or null (the browser tests are then skipped with a message). */
export function findChromium() {
  const r = spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split('\n')[0] : null;
}

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];
