import type { LeafStep } from '../store/metadata-store.js';

/** Pending steps of a task in id order after `afterId`, at most `limit`, none beyond `maxRound` rounds of a cycle. */
export type PageReader = (taskId: number, afterId: number, limit: number, maxRound: number) => Promise<LeafStep[]>;

export interface LaneSpec {
  taskId: number;
  /** The task's `parallel`; Infinity without one. */
  limit: number;
  maxRounds: number;
  /** Launches steps in this run (all tasks, or those -task names). */
  selected: boolean;
}

/** One task's leaves, and its steps in flight. */
export interface Lane extends LaneSpec {
  /** Taken and not yet exited: what `parallel` limits. */
  active: number;
  /** Scripts started and not yet exited (a taken step may wait in the executor's queue first). */
  scripts: number;
  /** Taken and not yet committed: a gather downstream waits for them. */
  unsettled: number;
  /** Failed, waiting to be tried again. */
  retrying: number;
  /** Committed done in this run. */
  done: number;
  /** Read from the db, not yet taken. */
  queue: LeafStep[];
  /** The id of the last step read: the next page starts after it. */
  cursor: number;
  /** The last page came back empty: nothing more is pending in the db until a commit or a gather says so. */
  exhausted: boolean;
  /** Bumped when pending steps appear: a page read before then cannot say the lane is exhausted. */
  news: number;
}

/**
 * The leaves of every task, each task a lane read from the db a page at a time, taken in turn
 * (round robin, so one task's flood does not starve another) and never beyond a task's
 * `parallel`. The global limit is the caller's: it asks for a leaf only when it may launch one.
 */
export class TaskLanes {
  private readonly lanes: Lane[];
  private readonly byId = new Map<number, Lane>();
  private turn = 0;

  constructor(
    specs: LaneSpec[],
    private readonly readPage: PageReader,
    private readonly pageSize: number,
  ) {
    this.lanes = specs.map((s) => ({
      ...s,
      active: 0,
      scripts: 0,
      unsettled: 0,
      retrying: 0,
      done: 0,
      queue: [],
      cursor: 0,
      exhausted: false,
      news: 0,
    }));
    for (const lane of this.lanes) this.byId.set(lane.taskId, lane);
  }

  get(taskId: number): Lane | undefined {
    return this.byId.get(taskId);
  }

  all(): readonly Lane[] {
    return this.lanes;
  }

  /**
   * The next leaf, from the first lane in turn that is selected, below its limit and has one
   * (reading its next page when its queue is empty); null when no lane has one now. The leaf
   * counts as active and unsettled in its lane until exited() and settled().
   */
  async take(): Promise<{ lane: Lane; leaf: LeafStep } | null> {
    const n = this.lanes.length;
    for (let i = 0; i < n; i++) {
      const lane = this.lanes[(this.turn + i) % n]!;
      if (!lane.selected || lane.active >= lane.limit) continue;
      if (lane.queue.length === 0 && !lane.exhausted) await this.readNextPage(lane);
      const leaf = lane.queue.shift();
      if (leaf === undefined) continue;
      this.turn = (this.turn + i + 1) % n;
      lane.active++;
      lane.unsettled++;
      return { lane, leaf };
    }
    return null;
  }

  /** Whether any selected lane has a leaf, reading a first page where needed (kept for take()). */
  async anyLeaves(): Promise<boolean> {
    for (const lane of this.lanes) {
      if (!lane.selected) continue;
      if (lane.queue.length === 0 && !lane.exhausted) await this.readNextPage(lane);
      if (lane.queue.length > 0) return true;
    }
    return false;
  }

  /** Some selected lane has leaves queued or not yet read. */
  hasLeaves(): boolean {
    return this.lanes.some((l) => l.selected && (l.queue.length > 0 || !l.exhausted));
  }

  /** Over all lanes: taken and not exited, taken and not settled, or waiting to retry. */
  total(key: 'active' | 'unsettled' | 'retrying'): number {
    let n = 0;
    for (const lane of this.lanes) n += lane[key];
    return n;
  }

  /** A taken step's script is done (or never started): its task may launch another. */
  exited(taskId: number): void {
    this.byId.get(taskId)!.active--;
  }

  /** A taken step is committed (`done` or failed), or given back after an interrupt. */
  settled(taskId: number, done: boolean): void {
    const lane = this.byId.get(taskId)!;
    lane.unsettled--;
    if (done) lane.done++;
  }

  /**
   * Pending steps a commit created, in id order (null: too many to list). A lane that had caught
   * up with the db takes them as they are, without reading them back; otherwise its pages bring them.
   */
  created(taskId: number, steps: LeafStep[] | null): void {
    const lane = this.byId.get(taskId);
    if (!lane) return;
    lane.news++;
    if (
      lane.selected &&
      lane.exhausted &&
      steps !== null &&
      steps.length > 0 &&
      lane.queue.length + steps.length <= this.pageSize
    ) {
      // Steps past the task's max_rounds generations of a cycle are cut: left pending, not run.
      for (const step of steps) if (step.round <= lane.maxRounds) lane.queue.push(step);
      lane.cursor = steps[steps.length - 1]!.id;
    } else {
      lane.exhausted = false;
    }
  }

  /** Pending steps made outside a commit (a gather's step, a reconcile): the lane reads its pages again. */
  reopen(taskId: number): void {
    const lane = this.byId.get(taskId);
    if (!lane) return;
    lane.news++;
    lane.exhausted = false;
  }

  /** A failed step to run again: first in its lane. */
  retry(leaf: LeafStep): void {
    this.byId.get(leaf.task)!.queue.unshift(leaf);
  }

  /** Nothing of these tasks is in flight, waiting to retry, queued or unread: what a gather waits for. */
  idle(taskIds: readonly number[]): boolean {
    return taskIds.every((id) => {
      const l = this.byId.get(id)!;
      return (
        l.active === 0 && l.unsettled === 0 && l.retrying === 0 && l.queue.length === 0 && (l.exhausted || !l.selected)
      );
    });
  }

  /** Steps of these tasks committed done in this run. */
  doneIn(taskIds: readonly number[]): number {
    let n = 0;
    for (const id of taskIds) n += this.byId.get(id)!.done;
    return n;
  }

  private async readNextPage(lane: Lane): Promise<void> {
    const news = lane.news;
    const page = await this.readPage(lane.taskId, lane.cursor, this.pageSize, lane.maxRounds);
    if (page.length === 0) {
      lane.exhausted = lane.news === news;
      return;
    }
    lane.cursor = page[page.length - 1]!.id;
    lane.queue.push(...page);
  }
}
