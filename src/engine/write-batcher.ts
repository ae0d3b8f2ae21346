import type { CommitEffect, MetadataStore, StepOutcome } from '../store/metadata-store.js';

/**
 * Claims and finished steps are written in batches: everything that arrives within one
 * turn of the event loop shares one transaction. Claims are written first, so a batch
 * never finishes a step before claiming it.
 */
export class WriteBatcher {
  private claims: number[] = [];
  private outcomes: StepOutcome[] = [];
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly meta: MetadataStore,
    private readonly runId: number,
    private readonly onCommitted: (outcomes: StepOutcome[], effect: CommitEffect) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  claim(stepId: number): void {
    this.claims.push(stepId);
    this.schedule();
  }

  commit(outcome: StepOutcome): void {
    this.outcomes.push(outcome);
    this.schedule();
  }

  /** Resolves once everything handed over so far is written. */
  drain(): Promise<void> {
    this.flushNow();
    return this.chain;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flushNow());
  }

  private flushNow(): void {
    this.scheduled = false;
    const claims = this.claims;
    const outcomes = this.outcomes;
    if (claims.length === 0 && outcomes.length === 0) return;
    this.claims = [];
    this.outcomes = [];
    this.chain = this.chain.then(async () => {
      if (claims.length > 0) await this.meta.markRunning(claims, this.runId, Date.now());
      if (outcomes.length > 0) this.onCommitted(outcomes, await this.meta.commit(outcomes, this.runId));
    }).catch(this.onError);
  }
}
