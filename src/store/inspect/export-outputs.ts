import {
  chmodSync,
  constants as fsc,
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  statSync,
  unlinkSync,
  type Stats,
} from 'node:fs';
import { join, posix } from 'node:path';
import { errnoCode, UserError } from '../../errors.js';
import { hashFile } from '../hash-file.js';
import { objectRelPath } from '../object-path.js';
import type { ExportEntry } from './export-plan.js';

export type ExportAction = 'linked' | 'copied' | 'present' | 'merged';

export interface ExportDone {
  entry: ExportEntry;
  action: ExportAction;
}

/** Errors that mean no hard link here: another filesystem, or one without hard links (or at its link limit). */
const NO_LINK = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * Materialise a planned export under outDir: copies of the store's objects (a reflink where the
 * filesystem can share blocks), each checked against its hash, so the files are the user's to edit
 * and a corrupt object is never handed out; or, with `link`, hard links to the read-only objects
 * themselves (copies where a link cannot be made). Everything is checked before anything is written, so a
 * refused export leaves outDir as it was: an existing file is kept when it holds the same bytes
 * and is a refusal otherwise; a symlink or a file where a directory is needed is a refusal
 * (following it could write outside outDir).
 */
export async function exportOutputs(
  dbDir: string,
  outDir: string,
  plan: ExportEntry[],
  link = false,
): Promise<ExportDone[]> {
  const checked = await check(dbDir, outDir, plan);
  mkdirSync(outDir, { recursive: true });
  const done: ExportDone[] = [];
  for (const c of checked) {
    if (c.action !== 'write') {
      done.push({ entry: c.entry, action: c.action });
      continue;
    }
    const dest = join(outDir, c.entry.path);
    mkdirSync(join(outDir, posix.dirname(c.entry.path)), { recursive: true });
    done.push({
      entry: c.entry,
      action: await place(join(dbDir, objectRelPath(c.entry.hash)), dest, c.entry.hash, link),
    });
  }
  return done;
}

async function place(src: string, dest: string, hash: string, link: boolean): Promise<'linked' | 'copied'> {
  if (link) {
    try {
      linkSync(src, dest);
      return 'linked';
    } catch (err) {
      if (!NO_LINK.has(errnoCode(err) ?? '')) throw err;
    }
  }
  // EXCL: never through a file (or symlink) that appeared since the check.
  copyFileSync(src, dest, fsc.COPYFILE_EXCL | fsc.COPYFILE_FICLONE);
  // The copy is read once to check it: an object damaged in the store must not leave as a result.
  const got = await hashFile(dest);
  if (got.hash !== hash) {
    unlinkSync(dest);
    throw new UserError(
      'ECORRUPT',
      `export: corrupt object ${hash} (its bytes hash to ${got.hash}): run task-pipeline fsck -repair`,
      { exitCode: 1 },
    );
  }
  if (link) chmodSync(dest, 0o444);
  return 'copied';
}

async function check(
  dbDir: string,
  outDir: string,
  plan: ExportEntry[],
): Promise<{ entry: ExportEntry; action: 'write' | 'present' | 'merged' }[]> {
  const refusals: string[] = [];
  const missing: string[] = [];
  // outDir itself is the user's choice: a symlink to a directory is fine there, a file is not.
  const top = statSync(outDir, { throwIfNoEntry: false });
  if (top && !top.isDirectory()) throw new UserError('EEXPORT', `export: -out ${outDir} exists and is not a directory`);
  const dirState = new Map<string, string | null>(); // dir -> why it is unusable, or null
  const usableDir = (rel: string): string | null => {
    if (rel === '.') return null;
    const known = dirState.get(rel);
    if (known !== undefined) return known;
    const parent = usableDir(posix.dirname(rel));
    const st = parent === null ? lstatSync(join(outDir, rel), { throwIfNoEntry: false }) : undefined;
    const why =
      parent ??
      (st === undefined || st.isDirectory()
        ? null
        : `${join(outDir, rel)} is ${st.isSymbolicLink() ? 'a symlink' : 'a file'} where a directory is needed`);
    dirState.set(rel, why);
    return why;
  };
  const out: { entry: ExportEntry; action: 'write' | 'present' | 'merged' }[] = [];
  for (const entry of plan) {
    if (entry.merged) {
      out.push({ entry, action: 'merged' });
      continue;
    }
    const src = join(dbDir, objectRelPath(entry.hash));
    const obj = statSync(src, { throwIfNoEntry: false });
    if (!obj) {
      missing.push(`missing object ${entry.hash} (${entry.name}): ${src} does not exist`);
      continue;
    }
    const dirWhy = usableDir(posix.dirname(entry.path));
    if (dirWhy !== null) {
      if (!refusals.includes(dirWhy)) refusals.push(dirWhy);
      continue;
    }
    const dest = join(outDir, entry.path);
    const st = lstatSync(dest, { throwIfNoEntry: false });
    if (!st) out.push({ entry, action: 'write' });
    else if (await sameBytes(st, obj, dest, entry.hash)) out.push({ entry, action: 'present' });
    else
      refusals.push(
        `${dest} exists ${st.isFile() ? 'with other content' : `and is ${st.isSymbolicLink() ? 'a symlink' : st.isDirectory() ? 'a directory' : 'not a regular file'}`}`,
      );
  }
  if (refusals.length > 0 || missing.length > 0) {
    const lines = [...missing, ...refusals];
    const shown = lines.slice(0, 10).map((l) => `  ${l}`);
    if (lines.length > 10) shown.push(`  ... and ${lines.length - 10} more`);
    const head =
      refusals.length > 0
        ? `export refused, nothing written: ${refusals.length} path${refusals.length === 1 ? '' : 's'} in ${outDir} would be overwritten or followed (move them away or export elsewhere)`
        : `export refused, nothing written: ${missing.length} object${missing.length === 1 ? ' is' : 's are'} missing from the store (run task-pipeline fsck -db ${dbDir})`;
    throw new UserError(refusals.length > 0 ? 'EEXPORT' : 'EMISSING', [head, ...shown].join('\n'), {
      exitCode: refusals.length > 0 ? 2 : 1,
    });
  }
  return out;
}

/** The same file (a link from an earlier export), or a regular file with the same bytes. */
async function sameBytes(st: Stats, obj: Stats, path: string, hash: string): Promise<boolean> {
  if (!st.isFile()) return false;
  if (st.dev === obj.dev && st.ino === obj.ino) return true;
  if (st.size !== obj.size) return false;
  return (await hashFile(path, st.size)).hash === hash;
}
