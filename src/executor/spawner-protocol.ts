import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync } from 'node:fs';
import { constants } from 'node:os';
import { EMPTY_HASH } from '../store/object-path.js';
import { badOutputText, storeFailureText } from './collect-outputs.js';
import type { Collected, Rusage, SpawnSpec } from './executor.js';
import { NATIVE_HELPER } from './shipped.js';

/** The engine's side of the C helper's protocol (native/spawner.c describes it). */

export { NATIVE_HELPER };

/** The helper was built, and the engine's fds can be named to it (/proc/<pid>/fd/N). */
export function helperUsable(): boolean {
  try {
    accessSync(NATIVE_HELPER, fsConstants.X_OK);
  } catch {
    return false;
  }
  return process.platform === 'linux' && existsSync(`/proc/${process.pid}/fd`);
}

/** The running helper: requests go in, reply lines come out; it keeps the engine alive only while ref'd. */
export interface HelperPipe {
  readonly pid: number | undefined;
  write(message: Buffer): void;
  end(): void;
  ref(on: boolean): void;
}

/** The helper, started, each reply line to `onLine`, and `onGone` once it is gone; null where it was not built. */
export function startHelper(
  limit: number,
  onLine: (line: string) => void,
  onGone: (why: string) => void,
): HelperPipe | null {
  try {
    accessSync(NATIVE_HELPER, fsConstants.X_OK);
  } catch {
    return null;
  }
  // Its own process group: a Ctrl-C on the terminal is the engine's to handle (scripts go back to
  // pending), not a signal that kills the helper and fails the running steps.
  const child = spawn(NATIVE_HELPER, [String(limit)], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) onLine(line);
  });
  child.stdin!.on('error', () => {}); // a dead helper is reported by 'exit' below
  child.on('error', (err) => onGone(`could not start the spawner helper: ${err.message}`));
  child.on('exit', (code, signal) =>
    onGone(`the spawner helper (pid ${child.pid}) ${signal ? `was killed by ${signal}` : `exited with ${code}`}`),
  );
  const streams = [child.stdin, child.stdout] as unknown as { ref?: () => void; unref?: () => void }[];
  return {
    pid: child.pid,
    write: (m) => child.stdin!.write(m),
    end: () => child.stdin!.end(),
    ref(on) {
      if (on) child.ref();
      else child.unref();
      for (const s of streams) (on ? s.ref : s.unref)?.call(s);
    },
  };
}

export function message(fields: string[]): Buffer {
  const payload = Buffer.from(fields.join('\0'));
  return Buffer.concat([Buffer.from(`${payload.length}\n`), payload]);
}

export function envFields(env: Record<string, string>): string[] {
  const fields: string[] = [];
  for (const k in env) fields.push(`${k}=${env[k]}`);
  return fields;
}

/** An `R` request: `base` is the number of a base environment already sent, or ''. */
export function runRequest(id: number, spec: SpawnSpec, base: string, procFd: string): Buffer {
  const f = spec.files;
  const flags = `${f.store.durable ? 'd' : ''}${spec.onLine ? 'v' : ''}`;
  return message([
    'R',
    String(id),
    spec.cwd,
    `${procFd}/${spec.stdout}`,
    `${procFd}/${spec.stderr}`,
    base,
    flags,
    f.store.objectsDir,
    f.outDir,
    f.input.path,
    f.input.state,
    f.log,
    String(spec.argv.length),
    ...spec.argv,
    ...envFields(spec.env),
  ]);
}

/** The position of the n-th space (1-based) in line. */
function nthSpace(line: string, n: number): number {
  let at = -1;
  for (let i = 0; i < n; i++) at = line.indexOf(' ', at + 1);
  return at;
}

/** The text from the n-th space on: a name or a message, which may hold spaces. */
export function rest(line: string, n: number): string {
  return line.slice(nthSpace(line, n) + 1);
}

const unescape = (s: string) =>
  s.replace(/\\(.)/g, (_, c: string) => (c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : c));

/** `O id added size hash name`: an output the helper stored. */
export function parseOutput(line: string): Collected['outputs'][number] {
  const [, , added, size, hash] = line.split(' ', 5);
  return { name: rest(line, 5), hash: hash!, size: Number(size), added: added === '1' };
}

/** `K id intact log [bad KIND ENTRY | err STAGE ERRNO ENTRY]`; null for `K id js`: the engine stores it all. */
export function parseSummary(line: string, outputs: Collected['outputs']): Collected | null {
  const [, , intact, log, what, a, b] = line.split(' ', 7);
  if (intact === 'js') return null;
  let error: string | null = null;
  if (what === 'bad') error = badOutputText(a!, unescape(rest(line, 6)));
  else if (what === 'err') error = storeFailureText(`storing the ${a}`, b!, unescape(rest(line, 7)));
  const colon = log!.indexOf(':');
  return {
    inputIntact: intact === '1',
    outputs: error === null ? outputs : [],
    log:
      log === '0'
        ? { hash: EMPTY_HASH, size: 0 }
        : colon > 0
          ? { size: Number(log!.slice(0, colon)), hash: log!.slice(colon + 1) }
          : null,
    error,
  };
}

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n as number, name]));

/** `X id code|- signo|- user_us sys_us maxrss_kb`. */
export function parseExit(line: string): { exitCode: number | null; signal: string | null; rusage: Rusage } {
  const [, , code, signo, user, sys, rss] = line.split(' ', 7);
  return {
    exitCode: code === '-' ? null : Number(code),
    signal: signo === '-' ? null : (SIGNAL_NAMES.get(Number(signo)) ?? `signal ${signo}`),
    rusage: { userMs: Math.round(Number(user) / 1000), sysMs: Math.round(Number(sys) / 1000), maxRssKb: Number(rss) },
  };
}
