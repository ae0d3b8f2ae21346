// `-report FILE.html`: one run, as a single self-contained file (no script, no external asset).
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import { openDatabase } from '../store/database.js';
import type { InspectDb } from '../store/inspect/query.js';
import { sqliteQuery } from '../store/inspect/sqlite-query.js';
import { objectRelPath } from '../store/object-path.js';
import { parseSummary, resourceColumns, SERVE_SQL } from './queries.js';
import { renderReport } from './report-html.js';

/** The failures a report lists with their logs; more are counted. */
const MAX_FAILURES = 200;
/** The end of a failed step's log: where a script says why it gave up. */
const TAIL_BYTES = 4096;

export interface TaskTimes {
  name: string;
  /** Start and end of every step of the run that has both, in ms since the epoch. */
  starts: number[];
  ends: number[];
  /** Per timed step: its id, and 1 when it failed. */
  ids: number[];
  failed: number[];
  statuses: Map<string, number>;
  /** Per resource column (when the step table has them): the sum (CPU) or the max (RSS) over the run's steps. */
  cpu: Map<string, number>;
  rss: Map<string, number>;
}

export interface Failure {
  stepId: number;
  task: string;
  inputName: string;
  exitCode: number | null;
  error: string | null;
  logHash: string | null;
  logTail: string | null;
}

export interface RunReport {
  db: string;
  run: {
    id: number;
    manifest: string;
    startedAt: number;
    finishedAt: number | null;
    exitCode: number | null;
    summary: unknown;
  };
  tasks: TaskTimes[];
  failures: Failure[];
  moreFailures: number;
  resources: { cpu: string[]; rss: string[] };
  generatedAt: number;
}

/** Write the report of run `runId` of a local db to `file` (through a temporary file, so a reader never sees half of it). */
export async function writeRunReport(dbDir: string, runId: number, file: string): Promise<void> {
  try {
    await writeReportHere(dbDir, runId, file);
  } catch (err) {
    if (!(err instanceof UserError && err.code === 'EDBOPEN')) throw err;
    // A process that opened the db for writing first (the run) loaded SQLite without `file:` names,
    // which the read-only open needs to read a db without -wal as immutable: a fresh process has them.
    await inChildProcess(dbDir, runId, file);
  }
}

/** The same, in this process only (report-main.js, the fresh process, calls this). */
export async function writeReportHere(dbDir: string, runId: number, file: string): Promise<void> {
  const db = openDatabase(dbDir);
  try {
    await writeReport({ q: sqliteQuery(db), store: dbDir, name: dbDir, dbArgs: `-db ${dbDir}` }, runId, file);
  } finally {
    db.close();
  }
}

/** The report of run `runId` of an opened db, whichever engine holds it, written to `file`. */
export async function writeReport(db: InspectDb, runId: number, file: string): Promise<void> {
  const data = await collect(db, runId);
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, renderReport(data));
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    // The run itself is over and committed: only the report is missing, and this says where it could not go.
    throw new UserError('EREPORT', `cannot write the report ${file}: ${(err as Error).message}`, {
      exitCode: 1,
      cause: err,
    });
  }
}

async function inChildProcess(dbDir: string, runId: number, file: string): Promise<void> {
  // Named from dist/'s top level: the same from this module and from the CLI's bundle (shipped.ts).
  const entry = fileURLToPath(new URL('../serve/report-main.js', import.meta.url));
  const r = spawnSync(process.execPath, [entry, dbDir, String(runId), file], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (r.status !== 0) {
    throw new UserError(
      'EREPORT',
      r.stderr?.trim() || `cannot write the report ${file}: ${r.error?.message ?? `exit ${r.status}`}`,
      { exitCode: 1 },
    );
  }
}

const RESOURCES = resourceColumns();
// No index on run_id: pages along the primary key, together one pass over the step table, done once
// per run and never by a page of serve; a page at a time, so a run of a million steps is never all in memory.
const STEP_PAGE = `SELECT s.id AS id, t.name AS task, s.status AS status, s.input_name AS inputName,
  s.exit_code AS exitCode, s.error AS error, nullif(lower(hex(a.log_hash)), '') AS logHash,
  s.started_at AS startedAt, s.finished_at AS finishedAt${[...RESOURCES.cpu, ...RESOURCES.rss].map((c) => `, a.${c} AS ${c}`).join('')}
  FROM step s JOIN task t ON t.id = s.task
  LEFT JOIN attempt a ON a.step_id = s.id AND a.attempt = s.attempts
  WHERE s.run_id = ? AND s.id > ? ORDER BY s.id LIMIT ?`;
const PAGE_ROWS = 10_000;

export async function collect(db: InspectDb, runId: number): Promise<RunReport> {
  const run = await db.q.get<Omit<RunReport['run'], 'summary'> & { summary: string | null }>(SERVE_SQL.run, [runId]);
  if (!run) throw new UserError('ENORUN', `no run ${runId} in ${db.name}`);
  const resources = RESOURCES;
  const order = new Map(
    (await db.q.all<{ name: string; position: number }>(`SELECT name, position FROM current_task`)).map((r) => [
      r.name,
      r.position,
    ]),
  );
  const tasks = new Map<string, TaskTimes>();
  const failures: Failure[] = [];
  let moreFailures = 0;
  for (let after = 0; ;) {
    const page = await db.q.all<Record<string, unknown>>(STEP_PAGE, [runId, after, PAGE_ROWS]);
    if (page.length === 0) break;
    after = page[page.length - 1]!.id as number;
    for (const r of page) {
      const name = r.task as string;
      let t = tasks.get(name);
      if (!t)
        tasks.set(
          name,
          (t = {
            name,
            starts: [],
            ends: [],
            ids: [],
            failed: [],
            statuses: new Map(),
            cpu: new Map(),
            rss: new Map(),
          }),
        );
      t.statuses.set(r.status as string, (t.statuses.get(r.status as string) ?? 0) + 1);
      if (typeof r.startedAt === 'number' && typeof r.finishedAt === 'number') {
        t.starts.push(r.startedAt);
        t.ends.push(r.finishedAt);
        t.ids.push(r.id as number);
        t.failed.push(r.status === 'failed' ? 1 : 0);
      }
      for (const c of resources.cpu) if (typeof r[c] === 'number') t.cpu.set(c, (t.cpu.get(c) ?? 0) + (r[c] as number));
      for (const c of resources.rss)
        if (typeof r[c] === 'number') t.rss.set(c, Math.max(t.rss.get(c) ?? 0, r[c] as number));
      if (r.status !== 'failed') continue;
      if (failures.length >= MAX_FAILURES) {
        moreFailures++;
        continue;
      }
      const logHash = r.logHash as string | null;
      failures.push({
        stepId: r.id as number,
        task: name,
        inputName: r.inputName as string,
        exitCode: r.exitCode as number | null,
        error: r.error as string | null,
        logHash,
        logTail: logHash === null ? null : tail(join(db.store, objectRelPath(logHash)), TAIL_BYTES),
      });
    }
    if (page.length < PAGE_ROWS) break;
  }
  const rank = (n: string) => order.get(n) ?? Number.MAX_SAFE_INTEGER;
  return {
    db: db.name,
    run: { ...run, summary: parseSummary(run.summary) },
    tasks: [...tasks.values()].sort((a, b) => rank(a.name) - rank(b.name) || (a.name < b.name ? -1 : 1)),
    failures,
    moreFailures,
    resources,
    generatedAt: Date.now(),
  };
}

/** The last `max` bytes of a file as text, from a line start when there is one; null when it is gone. */
function tail(path: string, max: number): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, max);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    let text = buf.toString('utf8');
    if (len < size) {
      const nl = text.indexOf('\n');
      text = `...\n${nl === -1 ? text : text.slice(nl + 1)}`;
    }
    return text;
  } finally {
    closeSync(fd);
  }
}
