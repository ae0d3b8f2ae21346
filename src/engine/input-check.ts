import { statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { DirDigest } from '../store/input-summary.js';
import { InputNames } from '../store/input-names.js';
import { checkName, walkFiles, type InputFile } from './input-walk.js';

/** A -input argument, checked: a file, or a directory walked once (and summed up, when asked). */
export type InputArg =
  | { kind: 'file'; file: InputFile }
  | {
      kind: 'dir';
      dir: string;
      /** The digest of its walk and the latest change in it (input-summary.ts), or null when not summed up. */
      digest: string | null;
      latest: number;
    };

export interface CheckedInputs {
  args: InputArg[];
  /** `INDEX\0NAME`: a file that an earlier argument gave already under the same name (one input). */
  skip: Set<string>;
}

/**
 * Check the -input arguments before the db is touched, so that a typo in a path, a name with a tab
 * or a newline, or two files claiming one name, write nothing. Each directory is walked once, a few
 * entries at a time; with `summarize`, each file is stat'ed as it is met, into the directory's
 * digest. Nothing is kept per file unless `collect` asks for the whole list.
 */
export function checkInputs(args: string[], summarize: boolean, collect?: InputFile[]): CheckedInputs {
  const given: { path: string; dir: boolean }[] = [];
  for (const arg of args) {
    const st = statSync(arg, { throwIfNoEntry: false });
    if (!st) throw new UserError('ENOINPUT', `-input ${arg}: no such file or directory`);
    if (!st.isFile() && !st.isDirectory())
      throw new UserError('EBADINPUT', `-input ${arg}: not a regular file or directory`);
    const path = resolve(arg);
    // The same argument twice is given once.
    if (!given.some((g) => g.path === path)) given.push({ path, dir: st.isDirectory() });
  }
  const out: CheckedInputs = { args: [], skip: new Set() };
  // One argument's names are distinct paths: only two arguments can claim a name twice.
  const names = given.length > 1 ? new InputNames() : null;
  const claim = (index: number, f: InputFile) => {
    const other = names?.claim(f.name, f.path) ?? null;
    if (other === null) collect?.push(f);
    else if (other === f.path) out.skip.add(`${index}\0${f.name}`);
    else
      throw new UserError(
        'EBADINPUT',
        `-input: two files would both be the input named "${f.name}": ${other} and ${f.path}; give them in separate runs (the later replaces the earlier) or rename one`,
      );
  };
  try {
    given.forEach(({ path, dir }, index) => {
      if (!dir) {
        const file = { path, name: basename(path), source: null };
        checkName(path, file.name);
        claim(index, file);
        out.args.push({ kind: 'file', file });
        return;
      }
      const digest = summarize ? new DirDigest() : null;
      for (const f of walkFiles(path, '', path)) {
        claim(index, f);
        digest?.add(f.name, statSync(f.path, { throwIfNoEntry: false }) ?? null);
      }
      out.args.push({ kind: 'dir', dir: path, digest: digest?.digest() ?? null, latest: digest?.latest ?? NaN });
    });
  } finally {
    names?.close();
  }
  return out;
}

/**
 * Expand -input arguments into every file they give: a file is named by its own basename, a
 * directory's files by their path relative to it (walked recursively). The whole list in memory:
 * for the callers that take it whole (a dry run, a PostgreSQL run).
 */
export function listInputs(args: string[]): InputFile[] {
  const files: InputFile[] = [];
  checkInputs(args, false, files);
  return files;
}
