import { opendirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { InputStatCache } from '../store/input-cache.js';
import type { InputChanges, MetadataStore } from '../store/metadata-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { ingestInputs, listInputs, type IngestOptions, type Ingested, type InputFile } from './ingest.js';

/** Files stat'ed, hashed, stored, then committed as run inputs together. */
const BATCH = 4096;

/**
 * The -input arguments, checked before the db is touched (a missing path, a name with a tab or a
 * newline, two arguments claiming one name: nothing is written). One directory, the big case, is
 * walked to check its names and walked again as it is ingested, a batch at a time: nothing is kept
 * per file, whatever their number. Files and several arguments are listed whole (listInputs): a
 * name two arguments claim must be found.
 */
export type CheckedInputs = { dir: string } | { files: InputFile[] };

export function checkInputs(args: string[]): CheckedInputs {
  const st = args.length === 1 ? statSync(args[0]!, { throwIfNoEntry: false }) : undefined;
  if (!st?.isDirectory()) return { files: listInputs(args) };
  const dir = resolve(args[0]!);
  for (const f of walk(dir, '', dir)) {
    // A listing line is HASH<TAB>NAME<TAB>FROM: a name cannot hold either separator.
    if (/[\t\n]/.test(f.name))
      throw new UserError(
        'EBADINPUT',
        `-input ${f.path}: a name with a tab or newline cannot be an input (${JSON.stringify(f.name)}); rename the file`,
      );
  }
  return { dir };
}

function* batches(inputs: CheckedInputs): Generator<InputFile[]> {
  if ('files' in inputs) {
    for (let at = 0; at < inputs.files.length; at += BATCH) yield inputs.files.slice(at, at + BATCH);
    return;
  }
  let batch: InputFile[] = [];
  for (const f of walk(inputs.dir, '', inputs.dir)) {
    batch.push(f);
    if (batch.length === BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

function* each(inputs: CheckedInputs): Generator<InputFile> {
  for (const b of batches(inputs)) yield* b;
}

/**
 * A directory's files, recursively, as listInputs names them (path relative to it; a symlink to a
 * file counts, one to a directory is not followed), read a few entries at a time (opendir, in the
 * directory's own order): a directory of 500,000 files is never in memory at once.
 */
function* walk(dir: string, prefix: string, source: string): Generator<InputFile> {
  const d = opendirSync(dir);
  try {
    const base = dir.endsWith('/') ? dir : `${dir}/`;
    for (let e = d.readSync(); e !== null; e = d.readSync()) {
      const name = prefix === '' ? e.name : `${prefix}/${e.name}`;
      const path = base + e.name;
      if (e.isDirectory()) yield* walk(path, name, source);
      else if (e.isFile() || (e.isSymbolicLink() && statSync(path, { throwIfNoEntry: false })?.isFile()))
        yield { path, name, source };
    }
  } finally {
    d.closeSync();
  }
}

/**
 * Ingest and add the run inputs a batch at a time: each batch's files stored, its rows committed,
 * then its stats recorded (a crash in between costs a re-read, never a wrong hash), and dropped.
 * The names a directory no longer holds are looked for once, at the end, against the whole walk
 * (walked again only when its directory has more current rows than files now).
 */
export async function ingestInBatches(
  inputs: CheckedInputs,
  store: ObjectStore,
  meta: MetadataStore,
  runId: number,
  options: IngestOptions & { cache: InputStatCache },
): Promise<{ ingested: Ingested; changes: InputChanges }> {
  const total: Ingested = { inputs: [], added: 0, bytes: 0, read: 0, fresh: [] };
  const changes: InputChanges = { added: 0, replaced: 0, missing: [] };
  const add = (c: InputChanges) => {
    changes.added += c.added;
    changes.replaced += c.replaced;
    changes.missing.push(...c.missing);
  };
  const counts = new Map<string, number>();
  for (const batch of batches(inputs)) {
    for (const f of batch) if (f.source !== null) counts.set(f.source, (counts.get(f.source) ?? 0) + 1);
    const ingested = await ingestInputs(batch, store, options);
    total.added += ingested.added;
    total.bytes += ingested.bytes;
    total.read += ingested.read;
    add(await meta.addRunInputs(ingested.inputs, runId, null));
    options.cache.record(ingested.fresh, new Map(), () => new Set());
  }
  const given = () => new Set([...each(inputs)].filter((f) => f.source !== null).map((f) => `${f.source}\0${f.name}`));
  add(await meta.addRunInputs([], runId, { counts, given }));
  options.cache.record([], counts, () => new Set([...each(inputs)].map((f) => f.path)));
  return { ingested: total, changes };
}
