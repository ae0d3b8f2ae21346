import type { ProcessGroups } from '../executor/process-groups.js';
import { KILL_GRACE_MS } from '../executor/process-groups.js';
import { LinesPool } from '../executor/lines/lines-pool.js';
import type { LoadedGraph } from './worker-loop.js';

/**
 * The long-lived processes of protocol = "lines" tasks in a process that runs steps from a
 * PostgreSQL db: one pool per loaded graph, since a worker's scripts run in that graph's copy of
 * the task files. A pool of an older graph is closed once none of its steps is in flight.
 */
export class GraphLines {
  private current: LinesPool | undefined;
  private readonly retired = new Set<LinesPool>();

  constructor(private readonly o: { groups: ProcessGroups; parallel: number; tmpDir: string; stop: AbortSignal }) {}

  /** The pool of a graph just loaded (undefined when it has no lines task). */
  use(graph: LoadedGraph): LinesPool | undefined {
    if (this.current) this.retired.add(this.current);
    const any = graph.plans.some((p) => p.spec.protocol === 'lines');
    this.current = any
      ? new LinesPool({
          groups: this.o.groups,
          parallel: Math.max(1, this.o.parallel),
          tmpDir: this.o.tmpDir,
          manifestDir: graph.manifestDir,
          graceMs: KILL_GRACE_MS,
          stop: this.o.stop,
        })
      : undefined;
    return this.current;
  }

  /** Close the older graphs' pools that no step in flight uses any more. */
  async sweep(inUse: Iterable<LinesPool | undefined>): Promise<void> {
    if (this.retired.size === 0) return;
    const busy = new Set(inUse);
    for (const p of [...this.retired]) {
      if (busy.has(p)) continue;
      this.retired.delete(p);
      await p.close();
    }
  }

  async close(): Promise<void> {
    await this.sweep([]);
    await this.current?.close();
    this.current = undefined;
  }
}
