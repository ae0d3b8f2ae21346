import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';

// What execvp searches when PATH is unset (glibc's default).
const DEFAULT_PATH = '/bin:/usr/bin';

/** True when an executable regular file named `program` is in one of PATH's directories (empty = "."). */
export function isOnPath(program: string, path: string | undefined = process.env.PATH): boolean {
  for (const dir of (path ?? DEFAULT_PATH).split(':')) {
    const candidate = join(dir === '' ? '.' : dir, program);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** A script the engine writes to a file and executes itself (see execute-step's scriptArgv): no shell. */
export function isShebangScript(script: string): boolean {
  return script.trimStart().startsWith('#!');
}
