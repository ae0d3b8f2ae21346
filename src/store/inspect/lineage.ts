import { join } from 'node:path';
import { EMPTY_HASH, objectRelPath } from '../object-path.js';
import type { FoundObject } from './find-object.js';
import { readListing } from './read-listing.js';
import type { StepRef } from './step-ref.js';
import { COUNT_CAP } from './count-cap.js';
import { LINEAGE_LOAD_SQL, LineageLoader, type LineageStepRow, type Producer } from './lineage-load.js';
import { BYTES, value, type InspectDb } from './query.js';

export interface LineageOptions {
  /** Steps followed from the object back, at most. */
  depth: number;
  /** Producers per object and inputs per gather step, at most. */
  width: number;
  /** Steps in the whole tree, at most: a bound on time and output however the graph fans in. */
  maxSteps: number;
}

export interface LineageObject {
  hash: string;
  /** null when the object has no `object` row. */
  size: number | null;
  /** The name it arrived under at the step that read it; null for the object asked about. */
  name: string | null;
  /** Its names as a run input (-input), if it is one. */
  runInputs: string[];
  /** The empty input of a root step while the db had no run input. */
  seed: boolean;
  producers: LineageStep[];
  /** Producers not shown (width or step budget). */
  moreProducers: number;
}

export interface LineageStep extends StepRef {
  /** The names this step gave the object it is drawn under. */
  outputNames: string[];
  /** Drawn already, higher in the tree (a shared ancestor or a cycle): not followed again. */
  repeated: boolean;
  /** For a gather step: its listing object and how many objects it lists. */
  gather: { listing: string; entries: number } | null;
  inputs: LineageObject[];
  moreInputs: number;
  /** Why its inputs were not followed. */
  cut: 'depth' | 'limit' | null;
}

export interface Lineage {
  root: LineageObject;
  options: LineageOptions;
  steps: number;
  /** Something was left out (depth, width or step budget). */
  truncated: boolean;
}

// The root's producers, read once; the rest of the tree through LineageLoader, a level at a time.
export const LINEAGE_SQL = {
  producers: `SELECT step_id AS stepId, name FROM step_output WHERE object_hash = unhex(?) ORDER BY step_id, name ${BYTES} LIMIT ?`,
  countProducers: `SELECT count(DISTINCT step_id) FROM (SELECT step_id FROM step_output WHERE object_hash = unhex(?) LIMIT ?) p`,
  ...LINEAGE_LOAD_SQL,
};

/** The provenance tree of an object: the steps that made it, their inputs, their makers... back to the run inputs or the seed. */
export async function lineage(db: InspectDb, obj: FoundObject, options: LineageOptions): Promise<Lineage> {
  const b = new LineageBuilder(new LineageLoader(db.q, options.width), db.store, options);
  const root = await b.object(obj.hash, null);
  const rows = await db.q.all<Producer>(LINEAGE_SQL.producers, [obj.hash, options.width * 4]);
  // The root has no consumer to say its name: it goes by the name its first producer gave it, or its
  // run input's, as the text shows it.
  root.name = rows[0]?.name ?? root.runInputs[0] ?? null;
  const groups = groupByStep(rows);
  b.load.expect(
    groups.slice(0, options.width).map((g) => g.stepId),
    [],
  );
  for (const g of groups.slice(0, options.width)) {
    if (b.budgetLeft()) root.producers.push(await b.step(g.stepId, g.names, 1));
  }
  const total = (await value<number>(db.q, LINEAGE_SQL.countProducers, [obj.hash, COUNT_CAP]))!;
  root.moreProducers = Math.max(0, total - root.producers.length);
  if (root.moreProducers > 0) b.truncated = true;
  return { root, options, steps: b.steps, truncated: b.truncated };
}

class LineageBuilder {
  steps = 0;
  truncated = false;
  private readonly seen = new Set<number>();

  constructor(
    readonly load: LineageLoader,
    private readonly store: string,
    private readonly o: LineageOptions,
  ) {}

  budgetLeft(): boolean {
    if (this.steps < this.o.maxSteps) return true;
    this.truncated = true;
    return false;
  }

  async object(hash: string, name: string | null): Promise<LineageObject> {
    const o = await this.load.object(hash);
    return {
      hash,
      size: o.size,
      name,
      runInputs: [...o.runInputs],
      seed: false,
      producers: [],
      moreProducers: 0,
    };
  }

  async step(stepId: number, outputNames: string[], depth: number): Promise<LineageStep> {
    const row = await this.load.step(stepId);
    const { objectHash, inputName, gatherTask, linked: _linked, ...ref } = row ?? missingStep(stepId);
    const node: LineageStep = {
      ...ref,
      outputNames,
      repeated: false,
      gather: null,
      inputs: [],
      moreInputs: 0,
      cut: null,
    };
    if (this.seen.has(stepId)) {
      node.repeated = true;
      return node;
    }
    this.steps++;
    if (!row) return node;
    if (depth >= this.o.depth) {
      // Not marked seen: met again nearer the top, it is still drawn in full there.
      node.cut = 'depth';
      this.truncated = true;
      return node;
    }
    this.seen.add(stepId);
    const linked = row.linked === 1;
    const direct = groupByStep(await this.load.linkedProducers(stepId));
    if (linked && direct.length === 0 && (gatherTask || inputName === 'listing')) {
      await this.gatherInputs(node, stepId, objectHash, depth);
      return node;
    }
    // One input: the step's own object, under the name it arrived with.
    const input = await this.object(objectHash, inputName);
    input.seed = !linked && objectHash === EMPTY_HASH && inputName === '';
    node.inputs.push(input);
    for (const g of direct.slice(0, this.o.width)) {
      if (!this.budgetLeft()) break;
      input.producers.push(await this.step(g.stepId, g.names, depth + 1));
    }
    if (linked) {
      const total = await this.load.linkedCount(stepId);
      input.moreProducers = Math.max(0, total - input.producers.length);
      if (input.moreProducers > 0) this.truncated = true;
    }
    return node;
  }

  private async gatherInputs(node: LineageStep, stepId: number, listing: string, depth: number): Promise<void> {
    let read: Awaited<ReturnType<typeof readListing>>;
    try {
      read = await readListing(join(this.store, objectRelPath(listing)), this.o.width);
    } catch {
      // A missing listing file is fsck's to report; the tree just stops here.
      node.gather = { listing, entries: 0 };
      return;
    }
    node.gather = { listing, entries: read.total };
    node.moreInputs = read.total - read.entries.length;
    if (node.moreInputs > 0) this.truncated = true;
    const producers = await this.load.entryProducers(stepId, read.entries, this.o.width);
    for (const [i, e] of read.entries.entries()) {
      const input = await this.object(e.hash, e.name);
      node.inputs.push(input);
      for (const g of groupByStep(producers[i]!)) {
        if (!this.budgetLeft()) {
          input.moreProducers++;
          continue;
        }
        input.producers.push(await this.step(g.stepId, g.names, depth + 1));
      }
    }
  }
}

/** One node per step, whatever number of names it gave the same bytes (split writing two equal parts). */
function groupByStep(rows: Producer[]): { stepId: number; names: string[] }[] {
  const by = new Map<number, string[]>();
  for (const r of rows) {
    const names = by.get(r.stepId);
    if (names) names.push(r.name);
    else by.set(r.stepId, [r.name]);
  }
  return [...by].map(([stepId, names]) => ({ stepId, names }));
}

/** A link to a step row that is gone should not happen; draw it rather than fail the whole tree. */
function missingStep(stepId: number): LineageStepRow {
  return {
    stepId,
    task: '?',
    version: '',
    status: 'pending',
    current: false,
    objectHash: '',
    inputName: '',
    gatherTask: 0,
    linked: 0,
  };
}
