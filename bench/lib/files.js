import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export function freshDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** name -> sha256 of every file in a flat directory. */
export function hashesIn(dir) {
  const out = new Map();
  for (const name of readdirSync(dir))
    out.set(
      name,
      createHash('sha256')
        .update(readFileSync(join(dir, name)))
        .digest('hex'),
    );
  return out;
}

/** Throws unless the two name -> hash maps are equal. */
export function sameOutputs(label, expected, got) {
  if (expected.size !== got.size) throw new Error(`${label}: ${got.size} outputs, expected ${expected.size}`);
  for (const [name, hash] of expected) {
    if (got.get(name) !== hash) throw new Error(`${label}: output ${name} differs (${got.get(name)} vs ${hash})`);
  }
}

/** Shell single-quoting for paths written into generated scripts and manifests. */
export function sq(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}
