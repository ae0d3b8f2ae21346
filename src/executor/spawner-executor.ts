import { dirname } from 'node:path';
import { faultPoint } from '../store/fault-point.js';
import { collectStep } from './collect-outputs.js';
import { notStarted, type Collected, type Executor, type SpawnResult, type SpawnSpec } from './executor.js';
import { KILL_GRACE_MS, signalGroup, terminateGroup, type ProcessGroups } from './process-groups.js';
import { killLeftovers } from './running-scripts.js';
import {
  envFields,
  message,
  NATIVE_HELPER,
  parseExit,
  parseOutput,
  parseSummary,
  rest,
  runRequest,
  startHelper,
  type HelperPipe,
} from './spawner-protocol.js';

interface Pending {
  id: number;
  spec: SpawnSpec;
  pid: number | null;
  timedOut: boolean;
  aborted: boolean;
  killTimer?: NodeJS.Timeout;
  timeoutTimer?: NodeJS.Timeout;
  /** The outputs the helper stored (`O` lines), then its summary (`K`; null: left to the engine). */
  outputs: Collected['outputs'];
  stored?: Collected | null;
  onAbort: () => void;
  resolve: (r: SpawnResult | Promise<SpawnResult>) => void;
}

/**
 * Requests wait in the engine until fewer than this many are queued in the helper, then go in
 * one write: each write wakes the helper on the other core (bench/PROFILE.md). The scheduler
 * hands over more than `-parallel`, so the helper keeps this many ready while the engine is busy.
 */
const REFILL_BELOW = 32;

/**
 * Scripts started, reaped and their outputs stored by the C helper (native/spawner.c): the
 * engine writes a request and reads lines back. Each script leads its own process group, which
 * gets SIGTERM on abort or timeout and SIGKILL after the grace period; what it left behind is
 * killed when it exits. Where the helper was not built, or there is no /proc/<pid>/fd, the
 * engine uses execa instead (choose-executor.ts).
 */
export class SpawnerExecutor implements Executor {
  private helper: HelperPipe | null = null;
  /** Requests not yet written to the helper, by id (see REFILL_BELOW). */
  private readonly outbox = new Map<number, Buffer>();
  /** Written to the helper and not yet started, failed or cancelled there. */
  private queuedInHelper = 0;
  private flushScheduled = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly procFd = `/proc/${process.pid}/fd`;
  /** Base environments the running helper holds, by identity. */
  private bases = new Map<Record<string, string>, number>();
  /** Why the helper died under running steps (see helperGone): nothing more is started. */
  private broken: string | null = null;

  /**
   * `limit`: at most this many scripts run at once; runs asked for beyond it wait in the
   * helper's queue, so the engine may ask ahead.
   */
  constructor(
    private readonly groups: ProcessGroups,
    private readonly options: {
      limit: number;
      graceMs?: number;
      /**
       * Told (once) when the helper dies while steps are handed to it: those steps come back
       * `aborted` (to go back to pending) and the run is expected to stop. Without it they fail.
       */
      onHelperDeath?: (why: string) => void;
    },
  ) {
    // The helper starts while the engine opens its db, not when the first step is ready; idle, it
    // must not keep the engine alive.
    this.ensureHelper()?.ref(false);
  }

  run(spec: SpawnSpec): Promise<SpawnResult> {
    if (this.broken !== null && this.options.onHelperDeath) {
      // The run is stopping: a step that slipped in goes back to pending without a new helper.
      return Promise.resolve(notStarted(true));
    }
    // Gone since choose-executor.ts found it: the step fails, saying so.
    if (!this.ensureHelper()) return Promise.resolve(notStarted(false, `${NATIVE_HELPER} is missing`));
    return new Promise<SpawnResult>((resolve) => {
      const id = this.nextId++;
      const p: Pending = {
        id,
        spec,
        pid: null,
        timedOut: false,
        aborted: false,
        resolve,
        outputs: [],
        onAbort: () => {
          p.aborted = true;
          // Not written to the helper yet: it simply never is. Queued there: it is taken out (a
          // `Q` reply). Started: it is stopped, a turn later, so that every cancel of this
          // interrupt reaches the helper before a killed script frees a slot for a step being cancelled.
          if (this.outbox.delete(id)) {
            setImmediate(() => this.pending.get(id) === p && this.finish(p, null));
          } else if (p.pid === null) this.helper?.write(message(['C', String(id)]));
          else setImmediate(() => this.stop(p));
        },
      };
      this.pending.set(id, p);
      if (this.pending.size === 1) this.helper?.ref(true);
      this.outbox.set(id, this.request(id, spec));
      // A script that can start at once (no more than `limit` in flight) is not held for the end
      // of the turn: at the start of a run, the engine prepares a whole launch-ahead of steps in it.
      if (this.pending.size <= this.options.limit) this.flush();
      else this.scheduleFlush();
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
    this.helper.write(requests.length === 1 ? requests[0]! : Buffer.concat(requests));
  }

  /** A run request; a base environment not yet sent to this helper goes first, once. */
  private request(id: number, spec: SpawnSpec): Buffer {
    let base = '';
    if (spec.baseEnv) {
      let n = this.bases.get(spec.baseEnv);
      if (n === undefined) {
        n = this.bases.size + 1;
        this.bases.set(spec.baseEnv, n);
        this.helper!.write(message(['E', String(n), ...envFields(spec.baseEnv)]));
      }
      base = String(n);
    }
    return runRequest(id, spec, base, this.procFd);
  }

  /** Stop the helper (it would also go by itself when the engine exits and its stdin closes). */
  close(): void {
    this.helper?.end();
    this.helper = null;
  }

  private stop(p: Pending): void {
    if (p.pid === null || this.pending.get(p.id) !== p) return; // signalled as soon as the helper reports the pid
    p.killTimer = terminateGroup(p.pid, this.options.graceMs ?? KILL_GRACE_MS, p.killTimer);
  }

  /** The running helper, started if needed; null where it was not built. */
  private ensureHelper(): HelperPipe | null {
    if (this.helper) return this.helper;
    const helper = startHelper(
      this.options.limit,
      (line) => this.onLine(line),
      (why) => this.helperGone(helper!, why),
    );
    this.helper = helper;
    this.bases = new Map();
    return helper;
  }

  private onLine(line: string): void {
    const kind = line[0];
    const sp = line.indexOf(' ', 2);
    const id = Number(sp < 0 ? line.slice(2) : line.slice(2, sp));
    const p = this.pending.get(id);
    if (!p) return;
    if (kind === 'T') {
      p.spec.onLine?.(rest(line, 2));
      return;
    }
    if (kind === 'S' || kind === 'F' || kind === 'Q') {
      // One fewer waiting in the helper: top it up if it runs low.
      this.queuedInHelper--;
      this.flush();
    }
    if (kind === 'O') {
      const out = parseOutput(line);
      p.outputs.push(out);
      // The helper renamed it into objects/ itself: the test hook's window before the commit that names it.
      if (out.added) faultPoint('after-rename');
    } else if (kind === 'K') {
      p.stored = parseSummary(line, p.outputs);
    } else if (kind === 'S') {
      p.pid = Number(rest(line, 2));
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
      this.finish(p, null);
    } else if (kind === 'F') {
      this.finish(p, null, rest(line, 2));
    } else if (kind === 'X') {
      this.finish(p, parseExit(line));
    }
  }

  /** exited: the `X` line's; null when the script never ran (spawnError: why). */
  private finish(p: Pending, exited: ReturnType<typeof parseExit> | null, spawnError: string | null = null): void {
    this.pending.delete(p.id);
    clearTimeout(p.timeoutTimer);
    clearTimeout(p.killTimer);
    p.spec.signal.removeEventListener('abort', p.onAbort);
    // The helper has already killed what the script left in its group.
    if (p.pid !== null) this.groups.remove(p.pid);
    if (this.pending.size === 0) this.helper?.ref(false);
    if (exited === null) {
      p.resolve({ ...notStarted(p.aborted, spawnError), timedOut: p.timedOut });
      return;
    }
    const result = (stored: Collected): SpawnResult => ({
      ...exited,
      timedOut: p.timedOut,
      aborted: p.aborted,
      spawnError: null,
      stored,
    });
    // A step with a file too big for the helper is stored here, by the same contract.
    p.resolve(p.stored ? result(p.stored) : collectStep(p.spec.files, exited.exitCode === 0).then(result));
  }

  private helperGone(helper: HelperPipe, why: string): void {
    if (this.helper !== helper) return;
    this.helper = null;
    const unsent = new Set(this.outbox.keys());
    this.outbox.clear();
    this.queuedInHelper = 0;
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
      halt(
        `${why} while ${n} step${n === 1 ? ' was' : 's were'} handed to it: its scripts were killed and ` +
          `${n === 1 ? 'the step goes' : 'the steps go'} back to pending; run the same command again to do them`,
      );
    }
    for (const p of this.pending.values()) {
      if (halt) p.aborted = true;
      this.finish(p, null, halt ? null : why);
    }
  }
}
