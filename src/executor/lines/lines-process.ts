import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeSync } from 'node:fs';
import { isOnPath } from '../../manifest/on-path.js';
import { teeLines } from '../../engine/log-text.js';
import { signalGroup, terminateGroup } from '../process-groups.js';
import { LineSplitter, parseReply, quoteGarbage } from './codec.js';

export interface ProcessSpec {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** SIGTERM first; SIGKILL this long after. */
  graceMs: number;
  /** Told when the process's group starts (true) and is gone (false). */
  onGroup?: (pid: number, alive: boolean) => void;
}

/** Where a step's share of the process's stderr goes. */
export interface StepIo {
  logFd: number;
  /** -verbose: each stderr line, already prefixed. */
  echo?: ((line: string) => void) | null;
}

export type Exchange =
  | { kind: 'ok' }
  /** The process answered {"error": ...}: the step failed, the process carries on. */
  | { kind: 'reported'; error: string }
  /** The process died or broke the protocol: the step failed, the process is not used again. */
  | { kind: 'failed'; error: string; exitCode: number | null }
  | { kind: 'timeout' }
  | { kind: 'aborted' };

/** Output between steps (start-up chatter) waits for the next step's log, up to this much. */
const IDLE_STDERR_MAX = 64 * 1024;
/** After the process exits, how long its pipes may take to close before the step is settled anyway. */
const CLOSE_WAIT_MS = 1000;

let setpriv: string[] | undefined;

/**
 * The kernel kills the process when the engine dies, even by kill -9 (prctl PR_SET_PDEATHSIG),
 * with util-linux's setpriv when it has --pdeathsig (2.33 on); checked once, on first use.
 */
function pdeathsigPrefix(): string[] {
  if (setpriv === undefined) {
    const help = isOnPath('setpriv') ? (spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout ?? '') : '';
    setpriv = help.includes('--pdeathsig') ? ['setpriv', '--pdeathsig', 'KILL', '--'] : [];
  }
  return setpriv;
}

interface Current {
  write: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  finish: (e: Exchange) => void;
  timedOut: boolean;
  aborted: boolean;
  /** Its reply is in: the step ends once the stderr written before it is read. */
  replied: boolean;
  timer: NodeJS.Timeout | undefined;
  onAbort: () => void;
  signal: AbortSignal;
}

/**
 * One long-lived task process (protocol = "lines"): the leader of its own process group, fed
 * one request line per step on stdin, answering one reply line on stdout; its stderr goes to
 * the current step's log. A process that dies, answers garbage or overruns its step's timeout
 * fails that step and is not used again.
 */
export class LinesProcess {
  private readonly child: ChildProcess;
  private readonly lines = new LineSplitter();
  private current: Current | null = null;
  private idleStderr: Buffer[] = [];
  private idleSize = 0;
  private exited = false;
  private exitText = '';
  private exitCode: number | null = null;
  /** Set when the process broke the protocol: why, for its step's error. */
  private broken: string | null = null;
  private killTimer: NodeJS.Timeout | undefined;
  private readonly closed: Promise<void>;

  constructor(private readonly spec: ProcessSpec) {
    const [cmd, ...args] = [...pdeathsigPrefix(), ...spec.argv];
    this.child = spawn(cmd!, args, { cwd: spec.cwd, env: spec.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const pid = this.child.pid;
    if (pid !== undefined) spec.onGroup?.(pid, true);
    this.child.stdin!.on('error', () => {
      // EPIPE: the process is gone; its exit says why.
    });
    this.child.stdout!.on('data', (c: Buffer) => this.onStdout(c));
    this.child.stderr!.on('data', (c: Buffer) => this.onStderr(c));
    this.closed = new Promise<void>((resolve) => {
      let done = false;
      const end = () => {
        if (done) return;
        done = true;
        this.exited = true;
        clearTimeout(this.killTimer);
        if (pid !== undefined) spec.onGroup?.(pid, false);
        this.settle();
        resolve();
      };
      this.child.on('error', (err) => {
        if (pid !== undefined) return; // a running process: its exit follows
        this.exitText = `could not start the process: ${err.message}`;
        end();
      });
      this.child.once('exit', (code, sig) => {
        this.exitCode = code;
        this.exitText = sig !== null ? `was killed by ${sig}` : `exited with exit code ${code}`;
        // Whatever it left running in its group goes with it.
        if (pid !== undefined) signalGroup(pid, 'SIGKILL');
        const wait = setTimeout(end, CLOSE_WAIT_MS);
        this.child.once('close', () => {
          clearTimeout(wait);
          end();
        });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Ready for another step. */
  get alive(): boolean {
    return !this.exited && this.broken === null && this.child.pid !== undefined;
  }

  /** Send one request line and wait for its reply (or the process's end). */
  exchange(line: string, io: StepIo, timeoutMs: number | null, signal: AbortSignal): Promise<Exchange> {
    return new Promise<Exchange>((resolve) => {
      const tee = io.echo ? teeLines(io.echo, io.logFd) : null;
      const write = tee
        ? (s: 'stdout' | 'stderr', c: Buffer) => tee.write(s, c)
        : (_s: 'stdout' | 'stderr', c: Buffer) => void writeSync(io.logFd, c);
      const cur: Current = {
        write,
        timedOut: false,
        aborted: false,
        replied: false,
        timer: undefined,
        signal,
        finish: (e) => {
          if (this.current !== cur) return;
          clearTimeout(cur.timer);
          signal.removeEventListener('abort', cur.onAbort);
          this.current = null;
          resolve(e);
        },
        onAbort: () => {
          cur.aborted = true;
          this.stopGroup();
        },
      };
      this.current = cur;
      for (const c of this.idleStderr.splice(0)) write('stderr', c);
      this.idleSize = 0;
      if (timeoutMs !== null) {
        cur.timer = setTimeout(() => {
          cur.timedOut = true;
          this.stopGroup();
        }, timeoutMs);
      }
      if (signal.aborted) cur.onAbort();
      else signal.addEventListener('abort', cur.onAbort, { once: true });
      if (this.exited) this.settle();
      else this.child.stdin!.write(line);
    });
  }

  /** SIGTERM to the group now, SIGKILL after the grace period; resolves when the process is gone. */
  stop(): Promise<void> {
    this.stopGroup();
    return this.closed;
  }

  /** End of the run: EOF on stdin lets the process leave by itself; stopped after the grace period. */
  close(): Promise<void> {
    if (this.exited) return this.closed;
    this.child.stdin!.end();
    const timer = setTimeout(() => this.stopGroup(), this.spec.graceMs);
    return this.closed.finally(() => clearTimeout(timer));
  }

  private stopGroup(): void {
    const pid = this.child.pid;
    if (pid === undefined || this.exited) return;
    this.killTimer = terminateGroup(pid, this.spec.graceMs, this.killTimer);
  }

  private onStdout(chunk: Buffer): void {
    const got = this.lines.push(chunk);
    if (got === 'too-long') return this.breaks('answered a line of over 1 MiB, not a reply');
    for (const line of got) {
      const cur = this.current;
      if (cur === null || cur.replied || cur.aborted || cur.timedOut) {
        return this.breaks(`wrote ${quoteGarbage(line)} to stdout between steps`);
      }
      const reply = parseReply(line);
      if ('garbage' in reply) {
        return this.breaks(
          `answered ${quoteGarbage(reply.garbage)}, not a reply ({"ok": true} or {"error": "..."}; print anything else to stderr)`,
        );
      }
      cur.replied = true;
      clearTimeout(cur.timer);
      // Its stderr from before the reply may still be in the other pipe: read it first.
      setImmediate(() => cur.finish(reply.ok ? { kind: 'ok' } : { kind: 'reported', error: reply.error }));
    }
  }

  /** Out of step with the engine: killed now, and its step (if any) fails with why once it is gone. */
  private breaks(why: string): void {
    this.broken ??= why;
    const pid = this.child.pid;
    if (pid !== undefined && !this.exited) signalGroup(pid, 'SIGKILL');
  }

  private onStderr(chunk: Buffer): void {
    if (this.current !== null) return this.current.write('stderr', chunk);
    if (this.idleSize >= IDLE_STDERR_MAX) return;
    this.idleStderr.push(chunk);
    this.idleSize += chunk.length;
  }

  /** The process is gone: its step, if any, ends with why. */
  private settle(): void {
    const cur = this.current;
    if (cur === null || !this.exited || cur.replied) return;
    if (cur.aborted) return cur.finish({ kind: 'aborted' });
    if (cur.timedOut) return cur.finish({ kind: 'timeout' });
    const tail = this.lines.rest();
    if (this.broken !== null)
      return cur.finish({ kind: 'failed', error: `the process ${this.broken}`, exitCode: null });
    const partial = tail === '' ? '' : ` (after writing ${quoteGarbage(tail)} without a newline)`;
    cur.finish({
      kind: 'failed',
      error: `the process ${this.exitText} before answering${partial}`,
      exitCode: this.exitCode,
    });
  }
}
