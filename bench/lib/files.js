import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
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

/**
 * Bytes of disk held by every file under dir (allocated blocks, each inode once), and by the
 * directory itself with `withRoot`.
 */
export function diskUse(dir, withRoot = false) {
  let total = withRoot ? lstatSync(dir).blocks * 512 : 0;
  const seen = new Set();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = lstatSync(p);
      if (seen.has(st.ino)) continue;
      seen.add(st.ino);
      total += st.blocks * 512;
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return total;
}
