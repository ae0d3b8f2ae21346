import { lstatSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hashFile } from '../hash-file.js';
import { objectRelPath } from '../object-path.js';
import { value, type InspectDb } from './query.js';
import { walkObjects } from './walk-objects.js';

export type Damage =
  | { kind: 'corrupt'; hash: string; path: string; detail: string }
  | { kind: 'missing'; hash: string; path: string; referencedBy: string[] }
  | { kind: 'stray'; path: string; detail: string }
  /** Not damage: an object someone made writable (chmod), the first step to corrupting it. */
  | { kind: 'writable'; hash: string; path: string };

export interface VerifyReport {
  checked: number;
  bytes: number;
  corrupt: number;
  missing: number;
  stray: number;
  writable: number;
}

const VERIFY_SQL = {
  size: `SELECT size FROM object WHERE hash = unhex(?)`,
  // Every hash a row names, with what names it: each must have its file.
  referenced: `SELECT lower(hex(hash)) AS hash, string_agg(kind, ', ' ORDER BY kind) AS refs FROM (
      SELECT hash, 'object row' AS kind FROM object
      UNION ALL SELECT DISTINCT object_hash, 'step input' FROM step
      UNION ALL SELECT DISTINCT a.log_hash, CASE WHEN a.attempt = s.attempts THEN 'step log' ELSE 'earlier attempt log' END
                  FROM attempt a CROSS JOIN step s ON s.id = a.step_id WHERE a.log_hash IS NOT NULL
      UNION ALL SELECT DISTINCT object_hash, 'step output' FROM step_output
      UNION ALL SELECT DISTINCT object_hash, 'run input' FROM run_input
    ) r GROUP BY hash ORDER BY hash`,
};

/**
 * fsck: re-hash every object file (streamed), and check that every hash a row names has its
 * file. Problems go to `report` as they are found, so a big store shows them early.
 */
export async function verifyStore(db: InspectDb, report: (d: Damage) => void): Promise<VerifyReport> {
  const r: VerifyReport = { checked: 0, bytes: 0, corrupt: 0, missing: 0, stray: 0, writable: 0 };
  for (const f of walkObjects(db.store)) {
    if (f.kind === 'stray') {
      r.stray++;
      report({ kind: 'stray', path: f.path, detail: f.why });
      continue;
    }
    const st = lstatSync(f.path, { throwIfNoEntry: false });
    if (!st) continue; // removed while we walked (a gc): nothing left to check
    r.checked++;
    r.bytes += st.size;
    const digest = await hashFile(f.path, st.size);
    const rowSize = await value<number>(db.q, VERIFY_SQL.size, [f.hash]);
    if (digest.hash !== f.hash) {
      r.corrupt++;
      report({
        kind: 'corrupt',
        hash: f.hash,
        path: f.path,
        detail: `its ${digest.size} bytes hash to ${digest.hash}`,
      });
    } else if (rowSize !== undefined && rowSize !== digest.size) {
      r.corrupt++;
      report({
        kind: 'corrupt',
        hash: f.hash,
        path: f.path,
        detail: `the object row says ${rowSize} bytes, the file has ${digest.size}`,
      });
    }
    if ((st.mode & 0o222) !== 0) {
      r.writable++;
      report({ kind: 'writable', hash: f.hash, path: f.path });
    }
  }
  for (const row of await db.q.all<{ hash: string; refs: string }>(VERIFY_SQL.referenced)) {
    const path = join(db.store, objectRelPath(row.hash));
    if (statSync(path, { throwIfNoEntry: false })?.isFile()) continue;
    r.missing++;
    report({ kind: 'missing', hash: row.hash, path, referencedBy: row.refs.split(', ') });
  }
  return r;
}

export function damaged(r: VerifyReport): boolean {
  return r.corrupt + r.missing + r.stray > 0;
}
