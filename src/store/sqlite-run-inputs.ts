import type Database from 'better-sqlite3';
import type { InputChanges, RunInputFile } from './metadata-store.js';
import type { Statements } from './sqlite-statements.js';

/**
 * Run inputs are keyed by name: a name given with other bytes retires its row and adds one; the
 * same bytes keep it (its source is updated). Names a directory held before and no longer does
 * are reported as missing, not retired.
 */
export function addRunInputs(
  db: Database.Database,
  s: Statements,
  inputs: RunInputFile[],
  runId: number,
  lookForMissing = true,
): InputChanges {
  type Current = [id: number, name: string, hash: string, source: string | null];
  return db
    .transaction(() => {
      const now = Date.now();
      const changes: InputChanges = { added: 0, replaced: 0, missing: [] };
      const seen = new Map<string, Set<string>>();
      // A query per chunk of names, not per input: 50,000 inputs given again cost 13 queries.
      for (let at = 0; at < inputs.length; at += 4096) {
        const chunk = inputs.slice(at, at + 4096);
        const current = new Map<string, Current>();
        for (const r of s.currentInputs.all(JSON.stringify(chunk.map((i) => i.name))) as Current[])
          current.set(r[1], r);
        for (const i of chunk) {
          if (i.source !== null && lookForMissing) {
            if (!seen.has(i.source)) seen.set(i.source, new Set());
            seen.get(i.source)!.add(i.name);
          }
          const cur = current.get(i.name);
          if (cur !== undefined && cur[2] === i.hash) {
            if (cur[3] !== i.source) s.setInputSource.run(i.source, cur[0]);
            cur[3] = i.source;
            continue;
          }
          // Only for new bytes: a current row's object has its row already (the row names it).
          s.insertObject.run(i.hash, i.size, now);
          if (cur) {
            s.retireInput.run(now, 'replaced', cur[0]);
            changes.replaced++;
          } else {
            changes.added++;
          }
          const id = Number(s.insertRunInput.run(i.name, i.hash, runId, i.source).lastInsertRowid);
          current.set(i.name, [id, i.name, i.hash, i.source]);
        }
      }
      // A directory given again without some of its files: they stay current (nothing is dropped
      // silently), and the caller says how to retire them. Every name given is current under its
      // directory now, so there are missing ones only when the directory has more current rows.
      for (const [source, names] of seen) {
        if ((s.countFromSource.get(source) as number) <= names.size) continue;
        for (const name of s.currentFromSource.all(source) as string[])
          if (!names.has(name)) changes.missing.push(name);
      }
      return changes;
    })
    .immediate();
}

/**
 * The current run inputs from a directory that it no longer holds, when it was given in batches
 * (addRunInputs without lookForMissing): `given` of its files were given just now, each current
 * under it since, so there are others only when it has more current rows. Those are streamed and
 * looked for on disk, a stat each: nothing is kept per file given.
 */
export function missingFrom(s: Statements, dir: string, given: number, isFile: (path: string) => boolean): string[] {
  if ((s.countFromSource.get(dir) as number) <= given) return [];
  const base = dir.endsWith('/') ? dir : `${dir}/`;
  const missing: string[] = [];
  for (const name of s.currentFromSource.iterate(dir) as IterableIterator<string>)
    if (!isFile(base + name)) missing.push(name);
  return missing;
}
