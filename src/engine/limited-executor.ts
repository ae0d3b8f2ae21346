import { notStarted, type Executor, type SpawnResult, type SpawnSpec } from './executor.js';

/**
 * At most `limit` runs of an executor at once; the others wait their turn here. The engine
 * asks ahead of its scripts (the next steps are prepared while the current ones run), and
 * this keeps `-parallel` what it says: the number of scripts running. A run aborted while it
 * waits never starts.
 */
export class LimitedExecutor implements Executor {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly inner: Executor,
    private readonly limit: number,
  ) {}

  async run(spec: SpawnSpec): Promise<SpawnResult> {
    if (this.running >= this.limit) {
      const started = await new Promise<boolean>((resolve) => {
        const onAbort = () => {
          this.waiting.splice(this.waiting.indexOf(go), 1);
          resolve(false);
        };
        const go = () => {
          spec.signal.removeEventListener('abort', onAbort);
          resolve(true);
        };
        this.waiting.push(go);
        spec.signal.addEventListener('abort', onAbort, { once: true });
      });
      if (!started) return notStarted(true);
    } else {
      this.running++;
    }
    try {
      return await this.inner.run(spec);
    } finally {
      // The permit passes straight to the next waiting run, if any.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  close(): void {
    this.inner.close?.();
  }
}
