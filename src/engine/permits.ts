import { notStarted, type Executor } from '../executor/executor.js';

/**
 * At most `limit` holders at once; the others wait their turn, and a released permit passes
 * straight to the next. A wait ended by its signal (an interrupt) gets no permit.
 */
export class Permits {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  acquire(signal: AbortSignal): Promise<boolean> {
    if (this.held < this.limit) {
      this.held++;
      return Promise.resolve(true);
    }
    if (signal.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(go), 1);
        resolve(false);
      };
      const go = () => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      };
      this.waiting.push(go);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held--;
  }
}

/**
 * At most `limit` runs of an executor at once. The engine asks ahead of its scripts (the next
 * steps are prepared while the current ones run); this keeps `-parallel` the number of scripts running.
 */
export function limited(inner: Executor, limit: number): Executor {
  const permits = new Permits(limit);
  return {
    async run(spec) {
      if (!(await permits.acquire(spec.signal))) return notStarted(true);
      try {
        return await inner.run(spec);
      } finally {
        permits.release();
      }
    },
    close: () => inner.close?.(),
  };
}
