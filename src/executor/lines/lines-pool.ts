import { mkdirSync, rmSync } from 'node:fs';
import { Permits } from '../../engine/permits.js';
import type { ProcessGroups } from '../process-groups.js';
import type { TaskPlan } from '../../engine/plan.js';
import { scriptArgv } from '../../engine/step-input.js';
import { processEnv } from './process-setup.js';
import { LinesProcess, type Exchange, type StepIo } from './lines-process.js';
import { Reaper } from './reaper.js';

export interface LinesPoolOptions {
  groups: ProcessGroups;
  /** The run's -parallel: at most this many steps of lines tasks at once. */
  parallel: number;
  /** The db's tmp/: each process's own TMPDIR is made there (so a crash's leftovers are found). */
  tmpDir: string;
  manifestDir: string;
  graceMs: number;
  /** The run is being interrupted: every process is stopped. */
  stop: AbortSignal;
}

interface Held {
  proc: LinesProcess;
  dir: string;
}

/**
 * The long-lived processes of protocol = "lines" tasks: started lazily, one per concurrency slot
 * of its task (the task's `parallel`, else -parallel), kept between steps, replaced when one dies
 * or misbehaves. The scheduler bounds each task's steps; this bounds all of them by -parallel.
 */
export class LinesPool {
  private readonly idle = new Map<number, Held[]>();
  private readonly all = new Set<Held>();
  private readonly permits: Permits;
  private made = 0;
  private reaper: Reaper | null = null;

  constructor(private readonly o: LinesPoolOptions) {
    this.permits = new Permits(o.parallel);
    o.stop.addEventListener(
      'abort',
      () => {
        for (const h of this.all) void h.proc.stop();
      },
      { once: true },
    );
  }

  /** Run one step's exchange on a process of its task; `signal` aborts this step only. */
  async run(plan: TaskPlan, line: string, io: StepIo, signal: AbortSignal, onStart?: () => void): Promise<Exchange> {
    if (!(await this.permits.acquire(signal))) return { kind: 'aborted' };
    let held: Held | undefined;
    try {
      if (signal.aborted || this.o.stop.aborted) return { kind: 'aborted' };
      held = this.take(plan);
      onStart?.();
      const timeout = plan.spec.timeout === null ? null : plan.spec.timeout * 1000;
      return await held.proc.exchange(line, io, timeout, signal);
    } finally {
      if (held !== undefined) this.giveBack(plan.taskId, held);
      this.permits.release();
    }
  }

  /** End of the run: every process is told EOF and given the grace period to leave. */
  async close(): Promise<void> {
    await Promise.all([...this.all].map((h) => h.proc.close().then(() => this.forget(h))));
    this.idle.clear();
    this.reaper?.close();
    this.reaper = null;
  }

  private take(plan: TaskPlan): Held {
    const free = this.idle.get(plan.taskId) ?? [];
    for (let h = free.pop(); h !== undefined; h = free.pop()) {
      if (h.proc.alive) return h;
      void h.proc.stop().then(() => this.forget(h));
    }
    const dir = `${this.o.tmpDir}/lines-${this.made++}`;
    mkdirSync(dir, { recursive: true });
    this.reaper ??= new Reaper();
    const reaper = this.reaper;
    const proc = new LinesProcess({
      argv: scriptArgv(plan.spec, dir),
      cwd: this.o.manifestDir,
      env: processEnv(plan, dir),
      graceMs: this.o.graceMs,
      onGroup: (pid, alive) => {
        if (alive) this.o.groups.add(pid);
        else this.o.groups.remove(pid);
        reaper.watch(pid, alive);
      },
    });
    const held = { proc, dir };
    this.all.add(held);
    return held;
  }

  private giveBack(taskId: number, h: Held): void {
    if (h.proc.alive && !this.o.stop.aborted) {
      const free = this.idle.get(taskId) ?? this.idle.set(taskId, []).get(taskId)!;
      free.push(h);
      return;
    }
    void h.proc.stop().then(() => this.forget(h));
  }

  private forget(h: Held): void {
    this.all.delete(h);
    rmSync(h.dir, { recursive: true, force: true });
  }
}
