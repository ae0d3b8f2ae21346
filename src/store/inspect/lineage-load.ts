import type { ListingEntry } from '../listing.js';
import { COUNT_CAP } from './count-cap.js';
import { BYTES, column, type Query } from './query.js';
import { STEP_REF_COLUMNS, STEP_REF_JOINS, type RawRow, type StepRef } from './step-ref.js';

/** A step as lineage reads it: its reference, its input, and whether any step links into it. */
export interface LineageStepRow extends StepRef {
  objectHash: string;
  inputName: string;
  gatherTask: number;
  linked: number;
}

export interface LineageObjectRow {
  size: number | null;
  runInputs: string[];
}

export interface Producer {
  stepId: number;
  name: string;
}

// Lists travel as one JSON array parameter (json_each; the dialect shim makes it PostgreSQL's
// json_array_elements_text), so a statement is the same text whatever the number of ids. Every
// statement reaches step, step_link, step_output and object through a key from the list.
const IDS = `json_each(:ids) j CROSS JOIN step s ON s.id = CAST(j.value AS INTEGER)`;
// A gather step's object is its listing, which no linked step produced: the general statements
// would walk all its links to find that out. Such steps are read one by one, from the object's side.
const GATHERISH = `(g.gather IS TRUE OR s.input_name = 'listing')`;

export const LINEAGE_LOAD_SQL = {
  steps: `SELECT ${STEP_REF_COLUMNS}, lower(hex(s.object_hash)) AS objectHash, s.input_name AS inputName,
                 (g.gather IS TRUE) AS gatherTask,
                 EXISTS (SELECT 1 FROM step_link k WHERE k.to_step_id = s.id) AS linked
            FROM ${IDS} ${STEP_REF_JOINS} LEFT JOIN current_task g ON g.name = t.name`,
  // Per step, the linked steps that produced its object, the first :limit (step, name) pairs.
  linked: `SELECT p.to_step AS toStep, p.step_id AS stepId, p.name AS name FROM (
             SELECT s.id AS to_step, o.step_id AS step_id, o.name AS name,
                    row_number() OVER (PARTITION BY s.id ORDER BY o.step_id, o.name ${BYTES}) AS r
               FROM ${IDS} JOIN task t ON t.id = s.task LEFT JOIN current_task g ON g.name = t.name
               CROSS JOIN step_link l ON l.to_step_id = s.id
               CROSS JOIN step_output o ON o.step_id = l.from_step_id AND o.object_hash = s.object_hash
              WHERE NOT ${GATHERISH}) p
            WHERE p.r <= :limit ORDER BY p.to_step, p.step_id, p.name ${BYTES}`,
  // Per step, how many distinct steps among its first COUNT_CAP links produced its object.
  countLinked: `SELECT x.to_step AS toStep, count(DISTINCT x.from_step) AS n FROM (
                  SELECT s.id AS to_step, s.object_hash AS hash, l.from_step_id AS from_step,
                         row_number() OVER (PARTITION BY s.id ORDER BY l.from_step_id) AS r
                    FROM ${IDS} JOIN task t ON t.id = s.task LEFT JOIN current_task g ON g.name = t.name
                    CROSS JOIN step_link l ON l.to_step_id = s.id
                   WHERE NOT ${GATHERISH}) x
                  JOIN step_output o ON o.step_id = x.from_step AND o.object_hash = x.hash
                 WHERE x.r <= ${COUNT_CAP} GROUP BY x.to_step`,
  // One step at a time, from the object's side: for gather steps (see GATHERISH).
  linkedOne: `SELECT l.from_step_id AS stepId, o.name AS name
                FROM step_link l JOIN step_output o ON o.object_hash = unhex(:hash) AND o.step_id = l.from_step_id
               WHERE l.to_step_id = :step ORDER BY l.from_step_id, o.name ${BYTES} LIMIT :limit`,
  countLinkedOne: `SELECT count(DISTINCT lk.from_step_id)
                     FROM (SELECT from_step_id FROM step_link WHERE to_step_id = :step ORDER BY from_step_id LIMIT :cap) lk
                     JOIN step_output o ON o.object_hash = unhex(:hash) AND o.step_id = lk.from_step_id`,
  sizes: `SELECT lower(hex(b.hash)) AS hash, b.size AS size FROM json_each(:hashes) j
            CROSS JOIN object b ON b.hash = unhex(j.value)`,
  runInputs: `SELECT lower(hex(i.object_hash)) AS hash, i.name AS name FROM json_each(:hashes) j
                CROSS JOIN run_input i ON i.object_hash = unhex(j.value) ORDER BY i.name ${BYTES}`,
  // A gather step's listing entries (hash, name, FROM) and, per entry, the first :limit steps linked
  // into it that made that output from that item: FROM tells equal outputs of different steps apart.
  entryProducers: `SELECT x.hash AS hash, x.name AS name, x.from_name AS fromName, x.step_id AS stepId FROM (
                     SELECT h.value AS hash, n.value AS name, f.value AS from_name, o.step_id AS step_id,
                            row_number() OVER (PARTITION BY h.key ORDER BY o.step_id) AS r
                       FROM json_each(:hashes) h JOIN json_each(:names) n ON n.key = h.key
                       JOIN json_each(:froms) f ON f.key = h.key
                       CROSS JOIN step_output o ON o.object_hash = unhex(h.value) AND o.name = n.value
                       CROSS JOIN step_link l ON l.from_step_id = o.step_id AND l.to_step_id = :step
                       CROSS JOIN step ps ON ps.id = o.step_id AND ps.input_name = f.value) x
                    WHERE x.r <= :limit ORDER BY x.step_id`,
};

/** Ids read per statement at most: one level of a wide tree goes in a few. */
const BATCH = 500;

/**
 * What lineage reads, fetched a level of the tree at a time: a step asked for is read together
 * with every step already known to be wanted (the producers found while reading the level above)
 * and so are objects. On PostgreSQL, where each statement is a round trip, that turns a statement
 * per node into a few per level. Answers are those of a statement per node, in the same order.
 */
export class LineageLoader {
  private readonly steps = new Map<number, LineageStepRow | null>();
  private readonly direct = new Map<number, Producer[]>();
  private readonly counts = new Map<number, number>();
  private readonly objects = new Map<string, LineageObjectRow>();
  private readonly wantSteps = new Set<number>();
  private readonly wantObjects = new Set<string>();

  constructor(
    private readonly q: Query,
    /** Producers per object that lineage draws: the ones worth reading ahead. */
    private readonly width: number,
  ) {}

  /** Steps and objects about to be asked for: read with the next batch. */
  expect(stepIds: number[], hashes: string[]): void {
    for (const id of stepIds) if (!this.steps.has(id)) this.wantSteps.add(id);
    for (const h of hashes) if (!this.objects.has(h)) this.wantObjects.add(h);
  }

  async step(id: number): Promise<LineageStepRow | null> {
    if (!this.steps.has(id)) await this.loadSteps(id);
    return this.steps.get(id)!;
  }

  /** The linked steps that produced the step's object, up to width * 4 (step, name) pairs. */
  async linkedProducers(id: number): Promise<Producer[]> {
    const row = await this.step(id);
    if (row === null || !row.linked) return [];
    let rows = this.direct.get(id);
    if (rows === undefined) {
      rows = await this.q.all<Producer>(LINEAGE_LOAD_SQL.linkedOne, {
        hash: row.objectHash,
        step: id,
        limit: this.width * 4,
      });
      this.direct.set(id, rows);
    }
    return rows;
  }

  /** How many distinct linked steps produced the step's object (among its first COUNT_CAP links). */
  async linkedCount(id: number): Promise<number> {
    const row = await this.step(id);
    if (row === null || !row.linked) return 0;
    let n = this.counts.get(id);
    if (n === undefined) {
      const params = { hash: row.objectHash, step: id, cap: COUNT_CAP };
      n = (await column<number>(this.q, LINEAGE_LOAD_SQL.countLinkedOne, params))[0] ?? 0;
      this.counts.set(id, n);
    }
    return n;
  }

  async object(hash: string): Promise<LineageObjectRow> {
    if (!this.objects.has(hash)) await this.loadObjects(hash);
    return this.objects.get(hash)!;
  }

  /** Per listing entry (in order), the producers linked into the gather step, up to `limit` each. */
  async entryProducers(step: number, entries: ListingEntry[], limit: number): Promise<Producer[][]> {
    if (entries.length === 0) return [];
    const rows = await this.q.all<{ hash: string; name: string; fromName: string; stepId: number }>(
      LINEAGE_LOAD_SQL.entryProducers,
      {
        hashes: JSON.stringify(entries.map((e) => e.hash)),
        names: JSON.stringify(entries.map((e) => e.name)),
        froms: JSON.stringify(entries.map((e) => e.fromName)),
        step,
        limit,
      },
    );
    // Equal entries (the same output listed twice) get the same producers, as a statement each would give.
    const by = new Map<string, Producer[]>();
    for (const r of rows) {
      const key = `${r.hash}\t${r.name}\t${r.fromName}`;
      const list = by.get(key) ?? [];
      if (!list.some((p) => p.stepId === r.stepId)) list.push({ stepId: r.stepId, name: r.name });
      by.set(key, list);
    }
    const out = entries.map((e) => by.get(`${e.hash}\t${e.name}\t${e.fromName}`) ?? []);
    this.expect(
      out.flatMap((ps) => ps.map((p) => p.stepId)),
      entries.map((e) => e.hash),
    );
    return out;
  }

  private async loadSteps(first: number): Promise<void> {
    const ids = take(first, this.wantSteps);
    const ref = { ids: JSON.stringify(ids) };
    for (const id of ids) this.steps.set(id, null);
    for (const r of await this.q.all<RawRow<LineageStepRow>>(LINEAGE_LOAD_SQL.steps, ref))
      this.steps.set(r.stepId, { ...r, current: Boolean(r.current) });
    const linked = await this.q.all<Producer & { toStep: number }>(LINEAGE_LOAD_SQL.linked, {
      ...ref,
      limit: this.width * 4,
    });
    const counted = await this.q.all<{ toStep: number; n: number }>(LINEAGE_LOAD_SQL.countLinked, ref);
    const gatherish = (r: LineageStepRow) => r.gatherTask === 1 || r.inputName === 'listing';
    for (const id of ids) {
      const r = this.steps.get(id);
      // Not read in the batch: gather steps (read one by one), and steps nothing links into.
      if (r && r.linked && !gatherish(r)) {
        this.direct.set(id, []);
        this.counts.set(id, 0);
      }
    }
    for (const p of linked) this.direct.get(p.toStep)?.push({ stepId: p.stepId, name: p.name });
    for (const c of counted) if (this.counts.has(c.toStep)) this.counts.set(c.toStep, c.n);
    // Read ahead: each step's input object, and the producers lineage will draw under it.
    for (const id of ids) {
      const r = this.steps.get(id);
      if (!r) continue;
      const producers = [...new Set((this.direct.get(id) ?? []).map((p) => p.stepId))].slice(0, this.width);
      this.expect(producers, [r.objectHash]);
    }
  }

  private async loadObjects(first: string): Promise<void> {
    const hashes = take(first, this.wantObjects);
    const ref = { hashes: JSON.stringify(hashes) };
    for (const h of hashes) this.objects.set(h, { size: null, runInputs: [] });
    for (const r of await this.q.all<{ hash: string; size: number }>(LINEAGE_LOAD_SQL.sizes, ref))
      this.objects.get(r.hash)!.size = r.size;
    for (const r of await this.q.all<{ hash: string; name: string }>(LINEAGE_LOAD_SQL.runInputs, ref))
      this.objects.get(r.hash)!.runInputs.push(r.name);
  }
}

/** `first` and up to BATCH - 1 more of `wanted` (taken out of it). */
function take<T>(first: T, wanted: Set<T>): T[] {
  wanted.delete(first);
  const out = [first];
  for (const x of wanted) {
    if (out.length >= BATCH) break;
    out.push(x);
    wanted.delete(x);
  }
  return out;
}
