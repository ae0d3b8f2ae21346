// The JSON behind each page. The db is opened for each request and closed after it (serve-db.ts),
// on either engine: every statement goes through the inspection Query.
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { findObject } from '../store/inspect/find-object.js';
import { findTask } from '../store/inspect/find-task.js';
import { lineage } from '../store/inspect/lineage.js';
import { COUNT_CAP } from '../store/inspect/count-cap.js';
import { objectUsage } from '../store/inspect/object-usage.js';
import { value, type InspectDb } from '../store/inspect/query.js';
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
import { sqliteServeDb, type ServeDb } from './serve-db.js';
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
  /** A local db directory; `db`, when given, is what is served (PostgreSQL). */
  dbDir: string;
  db?: ServeDb;
  status?: StatusCache;
}

type Params = URLSearchParams;

/** `fn` with the db opened for this request. */
export function withInspect<T>(ctx: ApiContext, fn: (db: InspectDb) => Promise<T>): Promise<T> {
  return (ctx.db ?? sqliteServeDb(ctx.dbDir)).use(fn);
}

/** A UserError of the inspection code as an HTTP status: unknown things 404, malformed ones 400. */
export function httpStatusOf(err: UserError): number {
  if (/^ENO(STEP|OBJECT|TASK)$/.test(err.code)) return 404;
  if (err.code === 'EAMBIGUOUS') return 409;
  if (err.code === 'EUSAGE' || err.code === 'EBADHASH') return 400;
  return 503;
}

export function overview(ctx: ApiContext): Promise<unknown> {
  return withInspect(ctx, async ({ q, name }) => {
    const inputs = (await value<number>(q, SERVE_SQL.currentInputs))!;
    return {
      db: name,
      tasks: await q.all(SERVE_SQL.graphTasks),
      edges: await q.all(SERVE_SQL.graphEdges),
      inputs: { count: Math.min(inputs, COUNT_CAP), capped: inputs > COUNT_CAP },
      runs: (await q.all<RunRow>(SERVE_SQL.runs, [10])).map((r) => ({
        ...r,
        summary: compactSummary(parseSummary(r.summary)),
      })),
      status: ctx.status?.snapshot() ?? null,
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
  return withInspect(ctx, async (i) => {
    const found = await findTask(i.q, i.name, name);
    const rows = await i.q.all<{
      taskId: number;
      version: string;
      createdAt: number;
      definition: string;
      current: number;
    }>(SERVE_SQL.versions, [name]);
    const versions = rows.slice(0, 50).map((v, i) => ({
      taskId: v.taskId,
      version: v.version,
      createdAt: v.createdAt,
      current: Boolean(v.current),
      definition: v.definition,
      // Versions are listed newest first: the one below is the one this replaced.
      changed: rows[i + 1] ? versionChange(rows[i + 1]!.definition, v.definition) : null,
    }));
    const spec = await i.q.get<{ spec: string; gather: number; isRoot: number; taskId: number }>(
      SERVE_SQL.currentSpec,
      [name],
    );
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
  return withInspect(ctx, async (i) => {
    await findTask(i.q, i.name, name);
    const versions = await i.q.all<{ taskId: number; current: number }>(SERVE_SQL.versions, [name]);
    const taskId = version ?? versions.find((v) => v.current)?.taskId ?? versions[0]?.taskId;
    if (taskId === undefined || (version !== undefined && !versions.some((v) => v.taskId === version))) {
      throw new HttpError(404, `task ${name} has no version ${version}`);
    }
    const page = await stepPage(i.q, taskId, status as Status | 'all', before !== undefined ? { before } : { after });
    return { task: name, taskId, status, counts: await cappedCounts(i.q, taskId), countCap: COUNT_CAP, ...page };
  });
}

export function step(ctx: ApiContext, id: string): Promise<unknown> {
  return withInspect(ctx, async (i) => {
    const d = await stepDetail(i, id);
    const res = resourceColumns();
    const row = (await i.q.get<Record<string, unknown>>(SERVE_SQL.stepResources, [d.stepId])) ?? {};
    const resources = Object.fromEntries([...res.cpu, ...res.rss].map((c) => [c, row[c] ?? null]));
    const log = d.log === null ? null : readHead(join(i.store, objectRelPath(d.log.hash)), PREVIEW_BYTES);
    return {
      ...d,
      resources,
      log: d.log === null ? null : { ...d.log, ...log },
      outputs: await i.q.all(SERVE_SQL.outputs, [d.stepId, 500]),
      outputCount: await value<number>(i.q, SERVE_SQL.countOutputs, [d.stepId]),
      upstream: await i.q.all(SERVE_SQL.upstream, [d.stepId, 50]),
    };
  });
}

export function object(ctx: ApiContext, ref: string): Promise<unknown> {
  return withInspect(ctx, async (i) => {
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
  return withInspect(ctx, async (i) => lineage(i, await findObject(i, ref), options));
}

export async function search(ctx: ApiContext, q: Params): Promise<unknown> {
  const text = (q.get('q') ?? '').trim();
  if (text.length > 1000 || /[\t\n\r]/.test(text))
    throw new HttpError(400, 'a search is at most 1000 characters, without tabs or line breaks');
  if (text === '')
    return { q: text, steps: [], objects: [], inputs: [], outputs: [], nameScan: NAME_SCAN, outputsCapped: false };
  return withInspect(ctx, async (i) => {
    const steps = /^[1-9][0-9]{0,15}$/.test(text) ? await stepHits(i, text) : [];
    const hex = text.toLowerCase();
    const range = /^[0-9a-f]{4,64}$/.test(hex) ? prefixRange(hex) : null;
    const objects = range ? await i.q.all(SERVE_SQL.objectsByPrefix, [range.lo, range.hi, 20]) : [];
    const outputs = await i.q.all(SERVE_SQL.outputsByName, { q: text, limit: 51 });
    return {
      q: text,
      steps,
      objects,
      inputs: await i.q.all(SERVE_SQL.inputsByName, [text]),
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
