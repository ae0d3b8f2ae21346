import { faultPoint } from '../store/fault-point.js';
import type { CommitEffect, MetadataStore, StepOutcome } from '../store/metadata-store.js';
import { TUNING, type Tuning } from './tuning.js';

/**
 * Claims and finished steps are written in batches, one transaction each: a transaction costs
 * ~100 µs of WAL writes and locks whatever it holds, so one per step would cost as much as
 * forking the script. A batch waits while every slot is busy (the scheduler asks for it at
 * once when a free slot could use what it creates). Waiting loses nothing to a crash: a step
 * not yet committed is simply run again. A step claimed and finished within one batch is
 * written once.
 */
export class WriteBatcher {
  private claims: number[] = [];
  private outcomes: StepOutcome[] = [];
  private timer: NodeJS.Timeout | null = null;
  private soon = false;
  private lastFlush = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly meta: MetadataStore,
    private readonly runId: number,
    private readonly onCommitted: (outcomes: StepOutcome[], effect: CommitEffect) => void,
    private readonly onError: (err: unknown) => void,
    /** batchMs, batchMax: see tuning.ts (the scheduler keeps enough steps queued in the executor to outlast a batch). */
    private readonly t: Pick<Tuning, 'batchMs' | 'batchMax'> = TUNING,
  ) {}

  claim(stepId: number): void {
    this.claims.push(stepId);
    this.schedule();
  }

  commit(outcome: StepOutcome): void {
    this.outcomes.push(outcome);
    this.schedule();
  }

  /** Write what is waiting on the next turn of the event loop: something needs its effect. */
  flushSoon(): void {
    if (this.soon || (this.claims.length === 0 && this.outcomes.length === 0)) return;
    this.soon = true;
    setImmediate(() => this.flushNow());
  }

  /** Resolves once everything handed over so far is written. */
  drain(): Promise<void> {
    this.flushNow();
    return this.chain;
  }

  private schedule(): void {
    if (this.claims.length + this.outcomes.length >= this.t.batchMax) this.flushSoon();
    // After a quiet spell the first write goes at once (with what joins it this turn): slow
    // steps show as running, and their results, without waiting for a batch that never fills.
    else if (this.timer === null && Date.now() - this.lastFlush > this.t.batchMs) this.flushSoon();
    else this.timer ??= setTimeout(() => this.flushNow(), this.t.batchMs);
  }

  private flushNow(): void {
    this.soon = false;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const outcomes = this.outcomes;
    let claims = this.claims;
    if (claims.length === 0 && outcomes.length === 0) return;
    this.claims = [];
    this.outcomes = [];
    if (claims.length > 0 && outcomes.length > 0) {
      const finished = new Set(outcomes.map((o) => o.stepId));
      claims = claims.filter((id) => !finished.has(id));
    }
    const now = Date.now();
    this.lastFlush = now;
    this.chain = this.chain
      .then(async () => {
        const effect = await this.meta.commit({ claims, outcomes, now }, this.runId);
        if (outcomes.length > 0) {
          faultPoint('after-commit');
          this.onCommitted(outcomes, effect);
        }
      })
      .catch(this.onError);
  }
}
