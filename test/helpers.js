// Shared by the tests: a temp workspace per test and the real CLI, run as a child process.
import { spawnSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/** A fresh directory for one test, removed when the test ends (pass the test context `t`). */
export function workspace(t, prefix = 'tp-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    db: join(dir, 'db'),
    path: (...p) => join(dir, ...p),
    write(rel, text) {
      const p = join(dir, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, text);
      return p;
    },
    read: (rel) => readFileSync(join(dir, rel), 'utf8'),
  };
}

/** Run the CLI to completion: { code, stdout, stderr }. */
export function cli(args, options = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    encoding: options.encoding ?? 'utf8',
    input: options.input,
    timeout: options.timeout ?? 120_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Start the CLI without waiting: for signals and kill -9. */
export function cliSpawn(args, options = {}) {
  return spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options.spawn,
  });
}

export function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

export function objectPath(db, hash) {
  return join(db, 'objects', hash.slice(0, 2), hash.slice(2, 4), hash.slice(4));
}

/** Every file under db/objects as { hash, path }. */
export function listObjects(db) {
  const out = [];
  const root = join(db, 'objects');
  for (const a of safeReaddir(root))
    for (const b of safeReaddir(join(root, a)))
      for (const rest of safeReaddir(join(root, a, b))) {
        out.push({ hash: a + b + rest, path: join(root, a, b, rest) });
      }
  return out;
}

function safeReaddir(d) {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

/** The lines scripts appended to a file (one per script run), or [] before any ran. */
export function linesOf(path) {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
  } catch {
    return [];
  }
}

/** A counter file per script run: scripts append a line, tests count them. */
export function countLines(path) {
  return linesOf(path).length;
}

export function isEmptyDir(path) {
  try {
    return statSync(path).isDirectory() && readdirSync(path).length === 0;
  } catch {
    return false;
  }
}

/** Open the db read-only with better-sqlite3 for assertions on rows. */
export async function openDb(db) {
  const { default: Database } = await import('better-sqlite3');
  return new Database(join(db, 'pipeline.sqlite'), { readonly: true });
}

/** Resolves with { code, signal, stdout, stderr } when a spawned CLI exits. */
export function exited(child) {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c) => (stdout += c));
  child.stderr?.on('data', (c) => (stderr += c));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/** Poll until fn() is truthy (or throw after ms). */
export async function waitFor(fn, ms = 20_000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Alive and not a zombie (an orphan's exit status may wait for a reaper that never comes in a container). */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Every file under dir with its size, mtime and bytes' hash: what "nothing was written" means. */
export function snapshot(dir) {
  const out = {};
  const walk = (d, rel) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p, r);
      else {
        const st = statSync(p);
        out[r] = `${st.size} ${st.mtimeMs} ${sha256(readFileSync(p))}`;
      }
    }
  };
  walk(dir, '');
  return out;
}
