import { statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { prefixRange } from '../hash-blob.js';
import { HASH_RE, objectRelPath } from '../object-path.js';
import type { InspectDb } from './query.js';

/** Shorter prefixes match too much to be worth typing, and 4 is what git asks too. */
const MIN_PREFIX = 4;
/** How many candidates an ambiguous prefix lists: enough to pick from, short enough to read. */
const MAX_CANDIDATES = 10;

export interface FoundObject {
  hash: string;
  size: number;
  /** false for a file in objects/ that no `object` row names (a crash between rename and commit). */
  registered: boolean;
}

export const FIND_OBJECT_SQL = {
  exact: `SELECT lower(hex(hash)) AS hash, size FROM object WHERE hash = unhex(?)`,
  // Every hash that starts with P is in one BLOB range (prefixRange): one index range on the
  // primary key, never a scan, however many objects there are.
  prefix: `SELECT lower(hex(hash)) AS hash, size FROM object WHERE hash >= ? AND hash < ?
             ORDER BY object.hash LIMIT ${MAX_CANDIDATES + 1}`,
};

/** Resolve HASH|PREFIX to one object, or throw a UserError (exit 2) that says what to type instead. */
export async function findObject(db: InspectDb, ref: string): Promise<FoundObject> {
  const want = ref.trim().toLowerCase();
  if (!/^[0-9a-f]+$/.test(want)) {
    throw new UserError('EBADHASH', `"${ref}" is not a hash: expected ${MIN_PREFIX} to 64 hex characters`);
  }
  if (want.length > 64) throw new UserError('EBADHASH', `"${ref}" is longer than a SHA-256 hash (64 hex characters)`);
  if (want.length === 64) return exact(db, want);
  if (want.length < MIN_PREFIX) {
    throw new UserError('EBADHASH', `prefix "${ref}" is too short: give at least ${MIN_PREFIX} hex characters`);
  }
  const { lo, hi } = prefixRange(want);
  const rows = await db.q.all<{ hash: string; size: number }>(FIND_OBJECT_SQL.prefix, [lo, hi]);
  if (rows.length === 0) throw new UserError('ENOOBJECT', `no object in ${db.name} has a hash starting with ${want}`);
  if (rows.length > 1) {
    const shown = rows.slice(0, MAX_CANDIDATES).map((r) => `  ${r.hash}  ${r.size} B`);
    const more = rows.length > MAX_CANDIDATES ? ['  ... and more: give more characters'] : [];
    throw new UserError(
      'EAMBIGUOUS',
      [
        `prefix ${want} is ambiguous: it matches ${rows.length > MAX_CANDIDATES ? `more than ${MAX_CANDIDATES}` : rows.length} objects:`,
        ...shown,
        ...more,
      ].join('\n'),
    );
  }
  return { ...rows[0]!, registered: true };
}

async function exact(db: InspectDb, hash: string): Promise<FoundObject> {
  const row = await db.q.get<{ hash: string; size: number }>(FIND_OBJECT_SQL.exact, [hash]);
  if (row) return { ...row, registered: true };
  // A full hash can still name an unregistered file; a prefix never does (prefixes search rows only).
  const st = HASH_RE.test(hash) ? statSync(join(db.store, objectRelPath(hash)), { throwIfNoEntry: false }) : undefined;
  if (st?.isFile()) return { hash, size: st.size, registered: false };
  throw new UserError('ENOOBJECT', `no object ${hash} in ${db.name}`);
}
