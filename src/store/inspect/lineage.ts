import { join } from 'node:path';
import { EMPTY_HASH, objectRelPath } from '../object-path.js';
import type { FoundObject } from './find-object.js';
import { readListing } from './read-listing.js';
import { STEP_REF_COLUMNS, STEP_REF_JOINS, toStepRef, type RawRow, type StepRef } from './step-ref.js';
import { COUNT_CAP } from './count-cap.js';
import { BYTES, column, value, type InspectDb, type Query } from './query.js';

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

// Every statement starts from an index: step_output(object_hash, step_id), step_link(to_step_id),
// run_input(object_hash), or a primary key; none walks step or step_output.
export const LINEAGE_SQL = {
  step: `SELECT ${STEP_REF_COLUMNS}, lower(hex(s.object_hash)) AS objectHash, s.input_name AS inputName,
                (g.gather IS TRUE) AS gatherTask
           FROM step s ${STEP_REF_JOINS} LEFT JOIN current_task g ON g.name = t.name
          WHERE s.id = ?`,
  size: `SELECT size FROM object WHERE hash = unhex(?)`,
  runInputs: `SELECT name FROM run_input WHERE object_hash = unhex(?) ORDER BY name ${BYTES}`,
  producers: `SELECT step_id AS stepId, name FROM step_output WHERE object_hash = unhex(?) ORDER BY step_id, name ${BYTES} LIMIT ?`,
  countProducers: `SELECT count(DISTINCT step_id) FROM (SELECT step_id FROM step_output WHERE object_hash = unhex(?) LIMIT ?) p`,
  hasLinks: `SELECT EXISTS (SELECT 1 FROM step_link WHERE to_step_id = ?)`,
  // The steps linked into S that produced S's object: S's input came from them.
  linkedProducers: `SELECT l.from_step_id AS stepId, o.name AS name
                      FROM step_link l JOIN step_output o ON o.object_hash = unhex(:hash) AND o.step_id = l.from_step_id
                     WHERE l.to_step_id = :step ORDER BY l.from_step_id, o.name ${BYTES} LIMIT :limit`,
  countLinkedProducers: `SELECT count(DISTINCT lk.from_step_id)
                           FROM (SELECT from_step_id FROM step_link WHERE to_step_id = :step LIMIT :cap) lk
                           JOIN step_output o ON o.object_hash = unhex(:hash) AND o.step_id = lk.from_step_id`,
  // A gather step's listing names objects; their producers are the steps linked into it.
  // A listing line names the item its producer processed (FROM): that tells equal outputs of different steps apart.
  entryProducers: `SELECT o.step_id AS stepId, o.name AS name
                     FROM step_output o JOIN step_link l ON l.from_step_id = o.step_id AND l.to_step_id = :step
                     JOIN step ps ON ps.id = o.step_id AND ps.input_name = :from
                    WHERE o.object_hash = unhex(:hash) AND o.name = :name ORDER BY o.step_id LIMIT :limit`,
};

interface StepRow extends StepRef {
  objectHash: string;
  inputName: string;
  gatherTask: number;
}

/** The provenance tree of an object: the steps that made it, their inputs, their makers... back to the run inputs or the seed. */
export async function lineage(db: InspectDb, obj: FoundObject, options: LineageOptions): Promise<Lineage> {
  const b = new LineageBuilder(db.q, db.store, options);
  const root = await b.object(obj.hash, null);
  const rows = await db.q.all<{ stepId: number; name: string }>(LINEAGE_SQL.producers, [obj.hash, options.width * 4]);
  // The root has no consumer to say its name: it goes by the name its first producer gave it, or its
  // run input's, as the text shows it.
  root.name = rows[0]?.name ?? root.runInputs[0] ?? null;
  const groups = groupByStep(rows);
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
    private readonly q: Query,
    private readonly store: string,
    private readonly o: LineageOptions,
  ) {}

  budgetLeft(): boolean {
    if (this.steps < this.o.maxSteps) return true;
    this.truncated = true;
    return false;
  }

  async object(hash: string, name: string | null): Promise<LineageObject> {
    return {
      hash,
      size: (await value<number>(this.q, LINEAGE_SQL.size, [hash])) ?? null,
      name,
      runInputs: await column<string>(this.q, LINEAGE_SQL.runInputs, [hash]),
      seed: false,
      producers: [],
      moreProducers: 0,
    };
  }

  async step(stepId: number, outputNames: string[], depth: number): Promise<LineageStep> {
    const row = await this.q.get<RawRow<StepRow>>(LINEAGE_SQL.step, [stepId]);
    const { objectHash, inputName, gatherTask, ...ref } = toStepRef<StepRow>(row ?? missingStep(stepId));
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
    const linked = (await value<number>(this.q, LINEAGE_SQL.hasLinks, [stepId])) === 1;
    const direct = linked
      ? groupByStep(
          await this.q.all<{ stepId: number; name: string }>(LINEAGE_SQL.linkedProducers, {
            hash: objectHash,
            step: stepId,
            limit: this.o.width * 4,
          }),
        )
      : [];
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
      const total = (await value<number>(this.q, LINEAGE_SQL.countLinkedProducers, {
        hash: objectHash,
        step: stepId,
        cap: COUNT_CAP,
      }))!;
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
    for (const e of read.entries) {
      const input = await this.object(e.hash, e.name);
      node.inputs.push(input);
      const rows = await this.q.all<{ stepId: number; name: string }>(LINEAGE_SQL.entryProducers, {
        hash: e.hash,
        name: e.name,
        from: e.fromName,
        step: stepId,
        limit: this.o.width,
      });
      for (const g of groupByStep(rows)) {
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
function groupByStep(rows: { stepId: number; name: string }[]): { stepId: number; names: string[] }[] {
  const by = new Map<number, string[]>();
  for (const r of rows) {
    const names = by.get(r.stepId);
    if (names) names.push(r.name);
    else by.set(r.stepId, [r.name]);
  }
  return [...by].map(([stepId, names]) => ({ stepId, names }));
}

/** A link to a step row that is gone should not happen; draw it rather than fail the whole tree. */
function missingStep(stepId: number): RawRow<StepRow> {
  return {
    stepId,
    task: '?',
    version: '',
    status: 'pending',
    current: 0,
    objectHash: '',
    inputName: '',
    gatherTask: 0,
  };
}
