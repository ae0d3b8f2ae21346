// Running the real CLI (dist/cli/main.js). Runs and `inputs rm` always start a child process. The
// read-only inspection commands the harness calls after every run (ls, cat, export) can instead go
// through the same command modules in this process (`inproc`), which saves a node start (~150 ms) per
// call: a seed makes some thirty of them. DIFF_CLI=spawn forces child processes for everything; when the
// command table cannot be loaded in-process, child processes are used too.

import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './paths.js';

export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/** The CLI in a child process: { code, signal, stdout (Buffer), stderr (string) }. */
export function spawnCli(args, { timeout = 600_000, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const out = [];
    let stderr = '';
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr });
    });
  });
}

class Collect extends Writable {
  constructor() {
    super();
    this.chunks = [];
  }
  _write(chunk, enc, cb) {
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, enc));
    cb();
  }
  text() {
    return Buffer.concat(this.chunks);
  }
}

let loaded; // Promise<{ COMMANDS, parseArgs } | null>

function loadInproc() {
  loaded ??= (async () => {
    try {
      const { COMMANDS } = await import(pathToFileURL(join(ROOT, 'dist', 'cli', 'commands.js')).href);
      const { parseArgs } = await import(pathToFileURL(join(ROOT, 'dist', 'cli', 'args.js')).href);
      if (typeof parseArgs !== 'function' || typeof COMMANDS !== 'object') return null;
      return { COMMANDS, parseArgs };
    } catch {
      return null;
    }
  })();
  return loaded;
}

const INPROC_COMMANDS = new Set(['ls', 'cat', 'export']);

/**
 * An inspection command (ls, cat, export): in this process when possible (see above), else as a child.
 * Same result shape as spawnCli.
 */
export async function inspectCli(args) {
  if (process.env.DIFF_CLI === 'spawn' || !INPROC_COMMANDS.has(args[0])) return spawnCli(args);
  const mod = await loadInproc();
  const entry = mod?.COMMANDS[args[0]];
  if (!entry) return spawnCli(args);
  const stdout = new Collect();
  const stderr = new Collect();
  try {
    const { command } = await entry.load();
    const parsed = mod.parseArgs(args.slice(1), command.flags, command.name);
    const code = await command.run(parsed, { stdout, stderr });
    return { code, signal: null, stdout: stdout.text(), stderr: stderr.text().toString('utf8') };
  } catch (err) {
    // As main.js maps them: a user error exits 2 (it has a code like EUSAGE), anything else 1.
    const code = err && typeof err === 'object' && 'code' in err && /^E[A-Z]/.test(String(err.code)) ? 2 : 1;
    return {
      code,
      signal: null,
      stdout: stdout.text(),
      stderr: `${stderr.text().toString('utf8')}task-pipeline: ${err?.message ?? err}\n`,
    };
  }
}
