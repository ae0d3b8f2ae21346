import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { TaskSpec } from '../manifest/index.js';
import { inputDirNames, parseListingLine } from '../store/listing.js';

/** What a step's script is given, the same in a run (execute-step.ts) and in `audit`. */

/** INPUT_FILE's name: `listing` for a gather, `seed` for a root's seed, else the input's basename. */
export function inputFileName(spec: Pick<TaskSpec, 'gather'>, inputName: string): string {
  if (spec.gather) return 'listing';
  if (inputName === '') return 'seed';
  // An input name can hold directories (`a/b.txt`): the file keeps only its basename.
  const b = basename(inputName);
  return b === '' || b === '.' || b === '..' ? 'input' : b;
}

/** The variables a step's script gets on top of its task's environment. */
export function stepEnv(
  step: { id: number; object_hash: string; input_name: string },
  taskName: string,
  dirs: { inputFile: string; outDir: string; tmpDir: string },
): Record<string, string> {
  return {
    INPUT_FILE: dirs.inputFile,
    INPUT_NAME: step.input_name,
    INPUT_HASH: step.object_hash,
    OUTPUT_DIR: dirs.outDir,
    TASK_NAME: taskName,
    STEP_ID: String(step.id),
    TMPDIR: dirs.tmpDir,
  };
}

/** The shell runs the script as one argument; a shebang script is written to `dir` and run as its own file. */
export function scriptArgv(spec: Pick<TaskSpec, 'shell' | 'script'>, dir: string): string[] {
  const text = spec.script.trimStart();
  if (!text.startsWith('#!')) return [...spec.shell, spec.script];
  const file = join(dir, 'script');
  writeFileSync(file, text, { mode: 0o755 });
  return [file];
}

/**
 * INPUT_DIR for a gather step: every object of the listing, one flat file per line, put there by
 * `place` (a hard link in a run, a copy in audit).
 */
export async function fillInputDir(
  listingFile: string,
  dir: string,
  place: (hash: string, path: string) => Promise<unknown> | void,
): Promise<string> {
  mkdirSync(dir);
  const lines = readFileSync(listingFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map(parseListingLine);
  const names = inputDirNames(lines);
  for (const [i, l] of lines.entries()) await place(l.hash, join(dir, names[i]!));
  return dir;
}
