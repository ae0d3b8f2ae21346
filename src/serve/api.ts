// The JSON behind each page. The db is opened for each request and closed after it: a read-only
// connection without a -wal reads the file `immutable`, which must not outlive a run starting.
import type Database from 'better-sqlite3';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { openDatabase } from '../store/database.js';
import { findObject } from '../store/inspect/find-object.js';
import { findTask } from '../store/inspect/find-task.js';
import { lineage } from '../store/inspect/lineage.js';
import { COUNT_CAP } from '../store/inspect/count-cap.js';
import { objectUsage } from '../store/inspect/object-usage.js';
import type { InspectDb } from '../store/inspect/query.js';
import { sqliteQuery } from '../store/inspect/sqlite-query.js';
import { stepDetail } from '../store/inspect/step-detail.js';
import { versionChange } from '../store/inspect/version-change.js';
import { prefixRange } from '../store/hash-blob.js';
import { objectRelPath } from '../store/object-path.js';
import { readHead } from './read-head.js';
import {
  cappedCounts,
  NAME_SCAN,
  parseSummary,
  resourceColumns,
  SERVE_SQL,
  STATUSES,
  stepPage,
  type Status,
} from './queries.js';
import type { StatusCache } from './status-cache.js';

/** Log and object previews: enough to read, bounded whatever the object's size. */
export const PREVIEW_BYTES = 64 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ApiContext {
  dbDir: string;
  status: StatusCache;
}

type Params = URLSearchParams;

export function withDb<T>(dbDir: string, fn: (db: Database.Database) => T): T {
  const db = openDatabase(dbDir);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** withDb for the inspection code shared with the commands (async, through a Query). */
async function withInspect<T>(dbDir: string, fn: (db: Database.Database, i: InspectDb) => Promise<T>): Promise<T> {
  const db = openDatabase(dbDir);
  try {
    return await fn(db, { q: sqliteQuery(db), store: dbDir, name: dbDir, dbArgs: `-db ${dbDir}` });
  } finally {
    db.close();
  }
}

/** A UserError of the inspection code as an HTTP status: unknown things 404, malformed ones 400. */
export function httpStatusOf(err: UserError): number {
  if (/^ENO(STEP|OBJECT|TASK)$/.test(err.code)) return 404;
  if (err.code === 'EAMBIGUOUS') return 409;
  if (err.code === 'EUSAGE' || err.code === 'EBADHASH') return 400;
  return 503;
}

export function overview(ctx: ApiContext): unknown {
  return withDb(ctx.dbDir, (db) => {
    const inputs = db.prepare(SERVE_SQL.currentInputs).pluck().get() as number;
    return {
      db: ctx.dbDir,
      tasks: db.prepare(SERVE_SQL.graphTasks).all(),
      edges: db.prepare(SERVE_SQL.graphEdges).all(),
      inputs: { count: Math.min(inputs, COUNT_CAP), capped: inputs > COUNT_CAP },
      runs: (db.prepare(SERVE_SQL.runs).all(10) as RunRow[]).map((r) => ({
        ...r,
        summary: compactSummary(parseSummary(r.summary)),
      })),
      status: ctx.status.snapshot(),
    };
  });
}

interface RunRow {
  id: number;
  summary: string | null;
}

/** What the runs table shows of a summary; its failures' log tails stay out of a response polled every second. */
function compactSummary(s: unknown): unknown {
  if (s === null || typeof s !== 'object') return null;
  const o = s as Record<string, unknown>;
  const pick = [
    'tasks',
    'objectsAdded',
    'bytesAdded',
    'inputsAdded',
    'interrupted',
    'halted',
    'wallMs',
    'maxRssKb',
    'heldBack',
  ];
  return {
    ...Object.fromEntries(pick.filter((k) => k in o).map((k) => [k, o[k]])),
    failures: Array.isArray(o.failures) ? o.failures.length : 0,
  };
}

export function task(ctx: ApiContext, name: string): Promise<unknown> {
  return withInspect(ctx.dbDir, async (db, i) => {
    const found = await findTask(i.q, ctx.dbDir, name);
    const rows = db.prepare(SERVE_SQL.versions).all(name) as {
      taskId: number;
      version: string;
      createdAt: number;
      definition: string;
      current: number;
    }[];
    const versions = rows.slice(0, 50).map((v, i) => ({
      taskId: v.taskId,
      version: v.version,
      createdAt: v.createdAt,
      current: Boolean(v.current),
      definition: v.definition,
      // Versions are listed newest first: the one below is the one this replaced.
      changed: rows[i + 1] ? versionChange(rows[i + 1]!.definition, v.definition) : null,
    }));
    const spec = db.prepare(SERVE_SQL.currentSpec).get(name) as
      { spec: string; gather: number; isRoot: number; taskId: number } | undefined;
    return {
      name,
      current: found.current,
      versions,
      moreVersions: rows.length > 50,
      spec: spec
        ? { ...(parseSummary(spec.spec) as object), gather: Boolean(spec.gather), isRoot: Boolean(spec.isRoot) }
        : null,
      currentTaskId: spec?.taskId ?? null,
    };
  });
}

export function steps(ctx: ApiContext, name: string, q: Params): Promise<unknown> {
  const status = q.get('status') ?? 'all';
  if (status !== 'all' && !(STATUSES as readonly string[]).includes(status))
    throw new HttpError(400, `status must be all, ${STATUSES.join(', ')}`);
  const after = optionalId(q, 'after');
  const before = optionalId(q, 'before');
  const version = optionalId(q, 'version');
  return withInspect(ctx.dbDir, async (db, i) => {
    await findTask(i.q, ctx.dbDir, name);
    const versions = db.prepare(SERVE_SQL.versions).all(name) as { taskId: number; current: number }[];
    const taskId = version ?? versions.find((v) => v.current)?.taskId ?? versions[0]?.taskId;
    if (taskId === undefined || (version !== undefined && !versions.some((v) => v.taskId === version))) {
      throw new HttpError(404, `task ${name} has no version ${version}`);
    }
    const page = stepPage(db, taskId, status as Status | 'all', before !== undefined ? { before } : { after });
    return { task: name, taskId, status, counts: cappedCounts(db, taskId), countCap: COUNT_CAP, ...page };
  });
}

export function step(ctx: ApiContext, id: string): Promise<unknown> {
  return withInspect(ctx.dbDir, async (db, i) => {
    const d = await stepDetail(i, id);
    const res = resourceColumns();
    const row = (db.prepare(SERVE_SQL.stepResources).get(d.stepId) ?? {}) as Record<string, unknown>;
    const resources = Object.fromEntries([...res.cpu, ...res.rss].map((c) => [c, row[c] ?? null]));
    const log = d.log === null ? null : readHead(join(ctx.dbDir, objectRelPath(d.log.hash)), PREVIEW_BYTES);
    return {
      ...d,
      resources,
      log: d.log === null ? null : { ...d.log, ...log },
      outputs: db.prepare(SERVE_SQL.outputs).all(d.stepId, 500),
      outputCount: db.prepare(SERVE_SQL.countOutputs).pluck().get(d.stepId),
      upstream: db.prepare(SERVE_SQL.upstream).all(d.stepId, 50),
    };
  });
}

export function object(ctx: ApiContext, ref: string): Promise<unknown> {
  return withInspect(ctx.dbDir, async (_db, i) => {
    const u = await objectUsage(i, await findObject(i, ref), 50);
    return { ...u, preview: readHead(u.path, PREVIEW_BYTES) };
  });
}

export async function objectLineage(ctx: ApiContext, ref: string, q: Params): Promise<unknown> {
  const options = {
    depth: boundedInt(q, 'depth', 30, 1000),
    width: boundedInt(q, 'width', 10, 100),
    maxSteps: boundedInt(q, 'limit', 300, 5000),
  };
  return withInspect(ctx.dbDir, async (_db, i) => lineage(i, await findObject(i, ref), options));
}

export async function search(ctx: ApiContext, q: Params): Promise<unknown> {
  const text = (q.get('q') ?? '').trim();
  if (text.length > 1000 || /[\t\n\r]/.test(text))
    throw new HttpError(400, 'a search is at most 1000 characters, without tabs or line breaks');
  if (text === '')
    return { q: text, steps: [], objects: [], inputs: [], outputs: [], nameScan: NAME_SCAN, outputsCapped: false };
  return withInspect(ctx.dbDir, async (db, i) => {
    const steps = /^[1-9][0-9]{0,15}$/.test(text) ? await stepHits(i, text) : [];
    const hex = text.toLowerCase();
    const range = /^[0-9a-f]{4,64}$/.test(hex) ? prefixRange(hex) : null;
    const objects = range ? db.prepare(SERVE_SQL.objectsByPrefix).all(range.lo, range.hi, 20) : [];
    const outputs = db.prepare(SERVE_SQL.outputsByName).all({ q: text, limit: 51 }) as unknown[];
    return {
      q: text,
      steps,
      objects,
      inputs: db.prepare(SERVE_SQL.inputsByName).all(text),
      outputs: outputs.slice(0, 50),
      outputsCapped: outputs.length > 50,
      nameScan: NAME_SCAN,
    };
  });
}

async function stepHits(db: InspectDb, id: string): Promise<unknown[]> {
  try {
    const d = await stepDetail({ ...db, name: '' }, id);
    return [{ stepId: d.stepId, task: d.task, status: d.status, inputName: d.inputName }];
  } catch (err) {
    if (err instanceof UserError) return [];
    throw err;
  }
}

function optionalId(q: Params, key: string): number | undefined {
  const v = q.get(key);
  if (v === null || v === '') return undefined;
  if (!/^[0-9]{1,16}$/.test(v)) throw new HttpError(400, `${key} must be a step or task id (a non-negative integer)`);
  return Number(v);
}

function boundedInt(q: Params, key: string, fallback: number, max: number): number {
  const v = q.get(key);
  if (v === null) return fallback;
  if (!/^[1-9][0-9]{0,5}$/.test(v) || Number(v) > max)
    throw new HttpError(400, `${key} must be an integer from 1 to ${max}`);
  return Number(v);
}
