import { lstatSync, readdirSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import { errnoCode } from '../errors.js';
import type { LocalObjectStore } from '../store/object-store.js';
import { EMPTY_HASH } from '../store/object-path.js';
import type { Collected, StepFiles, StoredOutput } from './executor.js';

/*
 * What a step leaves is stored by one contract, here and in native/collect.c (the C helper
 * does it where the script ran): the same checks in the same order, the same messages, the
 * same Collected. Here is also where the helper leaves a step with a file too big for it.
 */

/** An entry of OUTPUT_DIR that cannot be an output, or a system error while storing: the step fails with this message. */
export class CollectError extends Error {}

const KINDS: Record<string, string> = {
  symlink: 'a symlink',
  fifo: 'a FIFO',
  socket: 'a socket',
  device: 'a device file',
};

/** Why an entry cannot be an output, by the kind native/collect.c reports too. */
export function badOutputText(kind: string, entry: string): string {
  const name = JSON.stringify(entry);
  if (kind === 'name') {
    return `OUTPUT_DIR holds the name ${name}: output names cannot hold tabs or newlines (gather listings are tab-separated lines)`;
  }
  return `OUTPUT_DIR holds ${KINDS[kind] ?? 'a special file'} ${name}: only regular files can be outputs`;
}

/** A system error while `what` (storing the outputs...), by its code (ENOSPC...) and the entry it concerns. */
export function storeFailureText(what: string, code: string, entry: string): string {
  if (code === 'ENOSPC') return `no space left on device while ${what}`;
  if (code === 'EDQUOT') return `disk quota exceeded while ${what}`;
  const why = [...getSystemErrorMap().values()].find(([name]) => name === code)?.[1] ?? 'system error';
  return `${what} failed: ${code} (${why})${entry === '' ? '' : ` at ${JSON.stringify(entry)}`}`;
}

function failed(err: unknown, stage: 'log' | 'outputs', entry: string): CollectError {
  const what = `storing the ${stage}`;
  const code = errnoCode(err);
  return new CollectError(code ? storeFailureText(what, code, entry) : `${what} failed: ${(err as Error).message}`);
}

/** After the script ended: its log, and its outputs if it exited 0 and left its input intact. */
export async function collectStep(files: StepFiles, exitedZero: boolean): Promise<Collected> {
  const inputIntact = inodeState(files.input.path) === files.input.state;
  let outputs: StoredOutput[] = [];
  let error: string | null = null;
  if (inputIntact && exitedZero) {
    try {
      outputs = await collectOutputs(files.outDir, files.store);
    } catch (err) {
      error = (err instanceof CollectError ? err : failed(err, 'outputs', '')).message;
    }
  }
  let log: Collected['log'] = { hash: EMPTY_HASH, size: 0 };
  try {
    // Most scripts print nothing: the empty log stays in the slot for the next step.
    if (statSync(files.log).size > 0) {
      const put = await files.store.adopt(files.log);
      log = { hash: put.hash, size: put.size };
    }
  } catch (err) {
    log = null;
    error ??= failed(err, 'log', '').message;
  }
  return { inputIntact, outputs: error === null ? outputs : [], log, error };
}

function inodeState(path: string): string | null {
  const s = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  return s === undefined ? null : `${s.ino} ${s.size} ${s.mtimeNs} ${s.ctimeNs} ${s.mode}`;
}

/**
 * Walk OUTPUT_DIR; every regular file becomes an object, named by its relative path, and
 * is moved (not copied) into the store. On success OUTPUT_DIR is left empty for reuse.
 * `known`: objects by inode, verified just now, that the script linked or moved out of its
 * inputs: a file that is one of them is that object already, and is not read again.
 */
export async function collectOutputs(
  outDir: string,
  store: LocalObjectStore,
  known?: ReadonlyMap<bigint, { hash: string; size: number }>,
): Promise<StoredOutput[]> {
  const found: { name: string; path: string }[] = [];
  const dirs: { name: string; path: string }[] = [];
  walk(outDir, '', found, dirs);
  const outputs: StoredOutput[] = [];
  // Everything is checked before anything is stored: a bad entry leaves no stray object.
  for (const f of found) {
    try {
      const same =
        known !== undefined && known.size > 0 ? known.get(lstatSync(f.path, { bigint: true }).ino) : undefined;
      if (same !== undefined) {
        unlinkSync(f.path);
        outputs.push({ name: f.name, hash: same.hash, size: same.size, added: false });
        continue;
      }
      const put = await store.adopt(f.path);
      outputs.push({ name: f.name, hash: put.hash, size: put.size, added: put.added });
    } catch (err) {
      throw failed(err, 'outputs', f.name);
    }
  }
  for (const d of dirs.reverse()) {
    try {
      rmdirSync(d.path);
    } catch (err) {
      throw failed(err, 'outputs', d.name);
    }
  }
  return outputs;
}

function walk(
  dir: string,
  prefix: string,
  found: { name: string; path: string }[],
  dirs: { name: string; path: string }[],
): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw failed(err, 'outputs', prefix);
  }
  for (const entry of entries) {
    const name = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    const path = `${dir}/${entry.name}`;
    if (/[\t\n\r]/.test(entry.name)) throw new CollectError(badOutputText('name', name));
    if (entry.isDirectory()) {
      dirs.push({ name, path });
      walk(path, name, found, dirs);
    } else if (entry.isFile()) {
      found.push({ name, path });
    } else {
      const kind = entry.isSymbolicLink()
        ? 'symlink'
        : entry.isFIFO()
          ? 'fifo'
          : entry.isSocket()
            ? 'socket'
            : 'device';
      throw new CollectError(badOutputText(kind, name));
    }
  }
}
