import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { EMPTY_HASH } from '../store/object-path.js';
import type { Collected, Executor, SpawnResult, SpawnSpec } from './executor.js';
import { KILL_GRACE_MS, signalGroup, terminateGroup, type ProcessGroups } from './process-groups.js';
import { killLeftovers } from './running-scripts.js';
import { startHelper, type HelperKind } from './spawner-helper.js';

interface Pending {
  spec: SpawnSpec;
  pid: number | null;
  timedOut: boolean;
  aborted: boolean;
  finished: boolean;
  killTimer?: NodeJS.Timeout;
  timeoutTimer?: NodeJS.Timeout;
  /** The outputs the C helper stored (`O` lines), then its summary (`K`). */
  outputs?: Collected['outputs'];
  collected?: Collected;
  onAbort: () => void;
  resolve: (r: SpawnResult) => void;
}

/**
 * Requests wait in the engine until fewer than this many are queued in the helper, then go in
 * one write. Each write to the helper's pipe wakes it on the other core: ~45 µs of the engine's
 * thread per write here (an IPI is a VM exit on this kind of machine), one per step when sent
 * one by one. The scheduler hands over up to 64 more than `-parallel` (scheduler.ts, AHEAD), so
 * the helper keeps at least this many ready while the engine is busy (a commit, a big store).
 */
const REFILL_BELOW = 32;

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n as number, name]));

/**
 * Scripts forked by a long-lived helper process (spawner-helper.ts) instead of by the
 * engine: the engine only writes a request and reads a line back. Same semantics as
 * ExecaExecutor: each script leads its own process group, which gets SIGTERM on abort or
 * timeout and SIGKILL after the grace period, and whatever it left behind is killed when the
 * script exits. Output to a pipe (-verbose), or a system without /proc/<pid>/fd, goes to
 * the fallback executor, and so does every step where neither python3 nor perl is installed.
 */
export class SpawnerExecutor implements Executor {
  private helper: ChildProcess | null = null;
  private kind: HelperKind | null = null;
  /** Requests not yet written to the helper, by id (see REFILL_BELOW). */
  private readonly outbox = new Map<number, Buffer>();
  /** Written to the helper and not yet started, failed or cancelled there. */
  private queuedInHelper = 0;
  private flushScheduled = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private partial = '';
  private readonly procFd = `/proc/${process.pid}/fd`;
  /** Base environments the running helper holds, by identity. */
  private bases = new Map<Record<string, string>, number>();
  private usable = process.platform === 'linux' && existsSync(`/proc/${process.pid}/fd`);
  /** Why the helper died under running steps (see helperGone): nothing more is started. */
  private broken: string | null = null;

  /**
   * `limit`: at most this many scripts run at once; runs asked for beyond it wait in the
   * helper's queue (and in the fallback's), so the engine may ask ahead.
   */
  constructor(
    private readonly groups: ProcessGroups,
    private readonly options: {
      limit: number; fallback?: Executor; graceMs?: number;
      /**
       * Told (once) when the helper dies while steps are handed to it: those steps come back
       * `aborted` (to go back to pending) and the run is expected to stop. Without it they fail.
       */
      onHelperDeath?: (why: string) => void;
    },
  ) {
    // The helper starts while the engine opens its db, not when the first step is ready.
    if (this.usable && this.ensureHelper()) this.setRef(false);
  }

  run(spec: SpawnSpec): Promise<SpawnResult> {
    if (this.broken !== null && this.options.onHelperDeath) {
      // The run is stopping: a step that slipped in goes back to pending without a new helper.
      return Promise.resolve({ exitCode: null, signal: null, timedOut: false, aborted: true, spawnError: null, rusage: null });
    }
    if (spec.stdout === 'pipe' || spec.stderr === 'pipe' || !this.usable || !this.ensureHelper()) {
      if (!this.options.fallback) throw new Error('SpawnerExecutor: piped output needs a fallback executor');
      return this.options.fallback.run(spec);
    }
    return new Promise<SpawnResult>((resolve) => {
      const id = this.nextId++;
      const p: Pending = {
        spec, pid: null, timedOut: false, aborted: false, finished: false, resolve,
        onAbort: () => {
          p.aborted = true;
          // Not written to the helper yet: it simply never is. Queued there: it is taken out (a
          // `Q` reply). Started: it is stopped, a turn later, so that every cancel of this
          // interrupt reaches the helper before a killed script frees a slot for a step being cancelled.
          if (this.outbox.delete(id)) {
            setImmediate(() => {
              if (!p.finished) this.finish(id, p, { exitCode: null, signal: null, spawnError: null });
            });
          } else if (p.pid === null) this.helper?.stdin?.write(message(['C', String(id)]));
          else setImmediate(() => this.stop(p));
        },
      };
      this.pending.set(id, p);
      if (this.pending.size === 1) this.setRef(true);
      this.outbox.set(id, this.request(id, spec));
      this.scheduleFlush();
      if (spec.signal.aborted) p.onAbort();
      else spec.signal.addEventListener('abort', p.onAbort, { once: true });
    });
  }

  /** At the end of this turn: the requests of the turn go together. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Write what waits in the outbox if the helper is running low. */
  private flush(): void {
    if (this.outbox.size === 0 || this.queuedInHelper >= REFILL_BELOW || !this.helper) return;
    const requests = [...this.outbox.values()];
    this.outbox.clear();
    this.queuedInHelper += requests.length;
    this.helper.stdin!.write(requests.length === 1 ? requests[0]! : Buffer.concat(requests));
  }

  /** A run request; a base environment not yet sent to this helper goes first, once. */
  private request(id: number, spec: SpawnSpec): Buffer {
    let base = '';
    if (spec.baseEnv) {
      let n = this.bases.get(spec.baseEnv);
      if (n === undefined) {
        n = this.bases.size + 1;
        this.bases.set(spec.baseEnv, n);
        this.helper!.stdin!.write(message(['E', String(n), ...envFields(spec.baseEnv)]));
      }
      base = String(n);
    }
    const { procFd } = this;
    const head = [String(id), spec.cwd, `${procFd}/${spec.stdout}`, `${procFd}/${spec.stderr}`, base];
    const c = spec.collect;
    // The C helper stores the outputs itself when the script succeeds (native/collect.c).
    const collect = c && this.kind === 'c' ? [c.objects, c.outDir, c.input, c.inputState, c.log, c.durable ? 'd' : ''] : null;
    return message([collect ? 'P' : 'R', ...head, ...(collect ?? []), String(spec.argv.length), ...spec.argv, ...envFields(spec.env)]);
  }

  /** Stop the helper (it would also go by itself when the engine exits and its stdin closes). */
  close(): void {
    this.helper?.stdin?.end();
    this.helper = null;
  }

  private stop(p: Pending): void {
    if (p.pid === null || p.finished) return; // signalled as soon as the helper reports the pid
    p.killTimer = terminateGroup(p.pid, this.options.graceMs ?? KILL_GRACE_MS, p.killTimer);
  }

  /** The running helper, started if needed; null when no helper can run here (no python3, no perl). */
  private ensureHelper(): ChildProcess | null {
    if (this.helper) return this.helper;
    const started = startHelper(this.options.limit);
    if (started === null) {
      this.usable = false;
      return null;
    }
    const helper = started.process;
    this.helper = helper;
    this.kind = started.kind;
    this.partial = '';
    this.bases = new Map();
    helper.stdout!.setEncoding('utf8');
    helper.stdout!.on('data', (chunk: string) => this.onData(chunk));
    helper.stdin!.on('error', () => {}); // a dead helper is reported by 'exit' below
    helper.on('error', (err) => this.helperGone(helper, `could not start the spawner helper: ${err.message}`, true));
    helper.on('exit', (code, signal) => this.helperGone(helper, `the spawner helper (pid ${helper.pid}) ${signal ? `was killed by ${signal}` : `exited with ${code}`}`));
    return helper;
  }

  /** An idle helper must not keep the engine alive. */
  private setRef(on: boolean): void {
    const h = this.helper;
    if (!h) return;
    const streams = [h.stdin, h.stdout] as unknown as { ref?: () => void; unref?: () => void }[];
    if (on) {
      h.ref();
      for (const s of streams) s.ref?.();
    } else {
      h.unref();
      for (const s of streams) s.unref?.();
    }
  }

  private onData(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.onLine(line);
  }

  private onLine(line: string): void {
    const [kind, idText, a, b] = line.split(' ', 4);
    const id = Number(idText);
    const p = this.pending.get(id);
    if (!p) return;
    if (kind === 'S' || kind === 'F' || kind === 'Q') {
      // One fewer waiting in the helper: top it up if it runs low.
      this.queuedInHelper--;
      this.flush();
    }
    if (kind === 'O') {
      // O id added size hash name: the name is the rest of the line.
      const hash = line.split(' ', 5)[4]!;
      const name = line.slice(nthSpace(line, 5) + 1);
      (p.outputs ??= []).push({ name, hash, size: Number(b), added: a === '1' });
    } else if (kind === 'K') {
      p.collected = parseSummary(line, p.outputs ?? []);
    } else if (kind === 'S') {
      p.pid = Number(a);
      this.groups.add(p.pid);
      p.spec.onStart?.();
      // The timeout counts from the start, not from the time spent in the queue.
      if (p.spec.timeoutMs !== null) {
        p.timeoutTimer = setTimeout(() => {
          p.timedOut = true;
          this.stop(p);
        }, p.spec.timeoutMs);
      }
      if (p.aborted) this.stop(p);
    } else if (kind === 'Q') {
      this.finish(id, p, { exitCode: null, signal: null, spawnError: null });
    } else if (kind === 'F') {
      this.finish(id, p, { exitCode: null, signal: null, spawnError: line.slice(line.indexOf(' ', 2) + 1) });
    } else if (kind === 'X') {
      this.finish(id, p, {
        exitCode: a === '-' ? null : Number(a),
        signal: b === '-' ? null : SIGNAL_NAMES.get(Number(b)) ?? `signal ${b}`,
        spawnError: null,
      });
    }
  }

  private finish(id: number, p: Pending, r: Pick<SpawnResult, 'exitCode' | 'signal' | 'spawnError'>): void {
    this.pending.delete(id);
    p.finished = true;
    clearTimeout(p.timeoutTimer);
    clearTimeout(p.killTimer);
    p.spec.signal.removeEventListener('abort', p.onAbort);
    if (p.pid !== null) {
      // The script is done when its leader exits: the helper has already killed what it left in
      // its group (a kill from here would cost an ESRCH exception on nearly every step).
      this.groups.remove(p.pid);
    }
    if (this.pending.size === 0) this.setRef(false);
    p.resolve({
      exitCode: r.exitCode, signal: r.signal, timedOut: p.timedOut, aborted: p.aborted, spawnError: r.spawnError, rusage: null, collected: p.collected,
    });
  }

  private helperGone(helper: ChildProcess, why: string, neverRan = false): void {
    if (this.helper !== helper) return;
    this.helper = null;
    const unsent = new Set(this.outbox.keys());
    this.outbox.clear();
    this.queuedInHelper = 0;
    const fallback = this.options.fallback;
    if (neverRan && fallback) {
      // It never ran (its binary went missing between the check and the spawn, say): nothing was
      // started, and the fallback takes these steps and every later one.
      this.usable = false;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        clearTimeout(p.timeoutTimer);
        p.spec.signal.removeEventListener('abort', p.onAbort);
        fallback.run(p.spec).then(p.resolve, (err: unknown) => p.resolve({
          exitCode: null, signal: null, timedOut: false, aborted: false, spawnError: (err as Error).message, rusage: null,
        }));
      }
      this.setRef(false);
      return;
    }
    // An idle helper that died costs nothing: the next step starts another.
    if (this.pending.size === 0) return;
    // The scripts it had started live on in their own groups: kill them. One whose `S` line had
    // not arrived yet is found by its TMPDIR, inside its slot.
    const slots = new Set<string>();
    for (const [id, p] of this.pending) {
      if (p.pid !== null) signalGroup(p.pid, 'SIGKILL');
      else if (!unsent.has(id) && p.spec.env.TMPDIR !== undefined) slots.add(dirname(p.spec.env.TMPDIR));
    }
    for (const slot of slots) killLeftovers(slot);
    const halt = this.options.onHelperDeath;
    if (halt) {
      // The run stops, and these steps go back to pending, rather than fail through no fault of theirs.
      this.broken = why;
      const n = this.pending.size;
      halt(`${why} while ${n} step${n === 1 ? ' was' : 's were'} handed to it: its scripts were killed and ` +
        `${n === 1 ? 'the step goes' : 'the steps go'} back to pending; run the same command again to do them`);
    }
    for (const [id, p] of this.pending) {
      if (halt) p.aborted = true;
      this.finish(id, p, { exitCode: null, signal: null, spawnError: halt ? null : why });
    }
  }
}

/** The position of the n-th space (1-based) in line. */
function nthSpace(line: string, n: number): number {
  let at = -1;
  for (let i = 0; i < n; i++) at = line.indexOf(' ', at + 1);
  return at;
}

/** `K id result log [detail]`; undefined for `js` (nothing was stored: the engine does it all). */
function parseSummary(line: string, outputs: Collected['outputs']): Collected | undefined {
  const [, , result, log] = line.split(' ', 4);
  if (result === 'js') return undefined;
  const rest = line.slice(nthSpace(line, 4) + 1);
  const detail = result === 'bad' ? splitFirst(rest, 1) : result === 'err' ? splitFirst(rest, 2) : [];
  const colon = log!.indexOf(':');
  return {
    result: result as Collected['result'],
    outputs,
    log: log === '0' ? { hash: EMPTY_HASH, size: 0 } : colon > 0 ? { size: Number(log!.slice(0, colon)), hash: log!.slice(colon + 1) } : null,
    detail,
  };
}

/** The first n space-separated words of text, and the rest as one last item. */
function splitFirst(text: string, n: number): string[] {
  const out: string[] = [];
  let rest = text;
  for (let i = 0; i < n; i++) {
    const sp = rest.indexOf(' ');
    out.push(sp < 0 ? rest : rest.slice(0, sp));
    rest = sp < 0 ? '' : rest.slice(sp + 1);
  }
  out.push(rest);
  return out;
}

function envFields(env: Record<string, string>): string[] {
  const fields: string[] = [];
  for (const k in env) fields.push(`${k}=${env[k]}`);
  return fields;
}

function message(fields: string[]): Buffer {
  const payload = Buffer.from(fields.join('\0'));
  return Buffer.concat([Buffer.from(`${payload.length}\n`), payload]);
}
