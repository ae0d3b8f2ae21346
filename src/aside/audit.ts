import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest, TaskSpec } from '../manifest/index.js';
import { taskVersion } from '../manifest/index.js';
import { UserError } from '../errors.js';
import { hashFile } from '../store/hash-file.js';
import { objectRelPath } from '../store/object-path.js';
import { column, value, type InspectDb } from '../store/inspect/query.js';
import { fillInputDir, inputFileName, scriptArgv, stepEnv } from '../engine/step-input.js';
import { runLinesAside } from './audit-lines.js';

export interface AuditStep {
  stepId: number;
  /** Output names whose bytes differ, appear only now, or only in the db; empty when the step reproduced. */
  differs: string[];
  /** The script failed this time (exit code or signal): a difference too. */
  error: string | null;
}

export interface AuditTask {
  name: string;
  /** Done steps of the current version in the db, and how many were re-run. */
  done: number;
  steps: AuditStep[];
}

export interface AuditOptions {
  manifest: Manifest;
  tasks: string[];
  /** Steps per task, or 'all'. */
  sample: number | 'all';
  seed: number;
  timeoutMs: number;
}

/**
 * audit: re-run a seeded sample of each task's done steps in scratch directories outside the
 * db, and compare what they leave with the outputs recorded. Nothing is written to the db or the
 * store. A task that does not reproduce its outputs makes caching lie: this finds it.
 */
export async function audit(db: InspectDb, o: AuditOptions): Promise<AuditTask[]> {
  const names = o.tasks.length > 0 ? o.tasks : o.manifest.tasks.map((t) => t.name);
  const out: AuditTask[] = [];
  for (const name of names) {
    const spec = o.manifest.tasks.find((t) => t.name === name);
    if (!spec) throw new UserError('EUSAGE', `audit: -task ${name}: no task of that name in ${o.manifest.path}`);
    const taskId = await value<number>(db.q, 'SELECT id FROM task WHERE name = ? AND version = ?', [
      name,
      taskVersion(spec),
    ]);
    const ids =
      taskId === undefined
        ? []
        : await column<number>(db.q, `SELECT id FROM step WHERE task = ? AND status = 'done' ORDER BY id`, [taskId]);
    const chosen = o.sample === 'all' ? ids : sample(ids, o.sample, o.seed);
    const steps: AuditStep[] = [];
    for (const id of chosen) steps.push(await rerun(db, o, spec, id));
    out.push({ name, done: ids.length, steps });
  }
  return out;
}

async function rerun(db: InspectDb, o: AuditOptions, spec: TaskSpec, stepId: number): Promise<AuditStep> {
  const step = (await db.q.get<{ hash: string; name: string }>(
    'SELECT lower(hex(object_hash)) AS hash, input_name AS name FROM step WHERE id = ?',
    [stepId],
  ))!;
  const outputs = await db.q.all<{ name: string; hash: string }>(
    'SELECT name, lower(hex(object_hash)) AS hash FROM step_output WHERE step_id = ?',
    [stepId],
  );
  const recorded = new Map(outputs.map((r) => [r.name, r.hash]));
  const dir = mkdtempSync(join(tmpdir(), 'tp-audit-'));
  try {
    const objectPath = (hash: string) => join(db.store, objectRelPath(hash));
    mkdirSync(join(dir, 'in'));
    mkdirSync(join(dir, 'out'));
    mkdirSync(join(dir, 'tmp'));
    const inputFile = join(dir, 'in', inputFileName(spec, step.name));
    copyFileSync(objectPath(step.hash), inputFile);
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...spec.env,
      ...stepEnv({ id: stepId, object_hash: step.hash, input_name: step.name }, spec.name, {
        inputFile,
        outDir: join(dir, 'out'),
        tmpDir: join(dir, 'tmp'),
      }),
    };
    const copy = (hash: string, path: string) => copyFileSync(objectPath(hash), path);
    if (spec.gather) env.INPUT_DIR = await fillInputDir(inputFile, join(dir, 'gathered'), copy);
    const error =
      spec.protocol === 'lines'
        ? await runLinesAside(spec, o.manifest.dir, env, dir, spec.timeout === null ? o.timeoutMs : spec.timeout * 1000)
        : await runScript(spec, dir, o, env);
    if (error !== null) return { stepId, differs: [], error };
    const now = new Map<string, string>();
    for (const f of listFiles(join(dir, 'out'), '')) now.set(f, (await hashFile(join(dir, 'out', f))).hash);
    const differs = [...new Set([...recorded.keys(), ...now.keys()])]
      .filter((n) => recorded.get(n) !== now.get(n))
      .sort();
    return { stepId, differs, error: null };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runScript(
  spec: TaskSpec,
  dir: string,
  o: AuditOptions,
  env: Record<string, string>,
): Promise<string | null> {
  const argv = scriptArgv(spec, dir);
  const log = openSync(join(dir, 'log'), 'w');
  const stdout = spec.stdout === null ? log : openSync(join(dir, 'out', spec.stdout), 'w');
  try {
    // Its own process group, as in a run: a timeout kills whatever the script started.
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: o.manifest.dir,
      env,
      stdio: ['ignore', stdout, log],
      detached: true,
    });
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      },
      spec.timeout === null ? o.timeoutMs : spec.timeout * 1000,
    );
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.on('error', () => resolve([127, null]));
      child.on('close', (c, s) => resolve([c, s]));
    });
    clearTimeout(timer);
    if (timedOut) return 'timed out';
    if (signal) return `killed by ${signal}`;
    return code === 0 ? null : `exit code ${code}`;
  } finally {
    closeSync(log);
    if (stdout !== log) closeSync(stdout);
  }
}

function listFiles(dir: string, prefix: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const name = prefix === '' ? e.name : `${prefix}/${e.name}`;
    return e.isDirectory() ? listFiles(join(dir, e.name), name) : [name];
  });
}

/** k of the ids, chosen by a seeded shuffle (mulberry32), in id order: the same seed picks the same steps. */
export function sample(ids: number[], k: number, seed: number): number[] {
  if (ids.length <= k) return ids;
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pool = [...ids];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k).sort((x, y) => x - y);
}
