import { readdirSync, statSync } from 'node:fs';
import { UserError } from '../errors.js';
import { DB_FILE } from './database.js';
import { isLockName } from './lock.js';

/**
 * What `-db DIR` names, checked before a run writes anything: an existing db, or a place for a
 * new one (missing, or an empty directory). A file, or a directory of other things, is refused:
 * a mistyped `-db` must not scatter a db into the user's data or shadow it with a fresh one.
 */
export function checkDbDir(dir: string): 'existing' | 'new' {
  const st = statSync(dir, { throwIfNoEntry: false });
  if (st === undefined) return 'new';
  if (!st.isDirectory())
    throw new UserError(
      'EUSAGE',
      `-db ${dir}: is a file, not a db directory; give a directory (it is created if missing)`,
    );
  const entries = readdirSync(dir);
  if (entries.includes(DB_FILE)) return 'existing';
  // A directory the engine made and left before its first commit (killed at once) is still its own.
  const ours = new Set(['objects', 'tmp', 'lock']);
  if (entries.every((e) => ours.has(e) || isLockName(e))) return 'new';
  throw new UserError(
    'EUSAGE',
    `-db ${dir}: this directory holds other files and no pipeline db (${DB_FILE}); give a new or empty directory`,
  );
}
