// Proposed engine changes, applied at run time to the built engine so that their gain can be
// measured before anyone edits src/: BENCH_EXPERIMENTS=smallcopy,asyncrm,pooldirs (bench only).
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const SMALL = 64 * 1024;

export async function applyExperiments(list) {
  for (const name of list) {
    if (name === 'smallcopy') {
      // On ext4 a file written by copy_file_range costs ~1 ms to unlink, a written one ~5 us.
      const { LocalObjectStore } = await import('../../dist/store/object-store.js');
      const copyTo = LocalObjectStore.prototype.copyTo;
      if (copyTo === undefined)
        throw new Error(
          'BENCH_EXPERIMENTS=smallcopy: this engine makes no input copies (INPUT_FILE is a hard link of the object)',
        );
      LocalObjectStore.prototype.copyTo = function smallCopyTo(hash, dest) {
        const src = this.pathOf(hash);
        const st = fs.statSync(src);
        if (st.size > SMALL) return copyTo.call(this, hash, dest);
        fs.writeFileSync(dest, fs.readFileSync(src), { flag: 'wx' });
      };
    } else if (name === 'asyncrm') {
      // A step's working directory is removed off the event loop (libuv's threadpool).
      const rmSync = fs.rmSync;
      fs.rmSync = function asyncRm(path, options) {
        if (/\/tmp\/step-[^/]*$/.test(String(path))) {
          fs.promises.rm(path, options).catch(() => {});
          return;
        }
        return rmSync.call(fs, path, options);
      };
      syncBuiltinESMExports();
    } else if (name === 'pooldirs') {
      poolDirs();
    } else {
      throw new Error(`BENCH_EXPERIMENTS: unknown experiment ${name} (smallcopy, asyncrm, pooldirs)`);
    }
  }
}

/**
 * Step directories are recycled instead of created and removed: mkdtemp hands out an emptied
 * directory whose in/ out/ scratch/ already exist, and removing it empties it back into the pool.
 */
function poolDirs() {
  const STEP = /\/tmp\/step-[^/]*$/;
  const SUBDIRS = new Set(['in', 'out', 'scratch']);
  const pool = [];
  const pooled = new Set();
  const { mkdtempSync, mkdirSync, rmSync } = fs;
  fs.mkdtempSync = function pooledMkdtemp(prefix, options) {
    if (!STEP.test(`${prefix}x`) || pool.length === 0) return mkdtempSync.call(fs, prefix, options);
    return pool.pop();
  };
  fs.mkdirSync = function pooledMkdir(path, options) {
    const p = String(path);
    const slash = p.lastIndexOf('/');
    if (pooled.has(p.slice(0, slash)) && SUBDIRS.has(p.slice(slash + 1))) return undefined;
    return mkdirSync.call(fs, path, options);
  };
  fs.rmSync = function pooledRm(path, options) {
    const p = String(path);
    if (!STEP.test(p)) return rmSync.call(fs, path, options);
    for (const entry of fs.readdirSync(p)) {
      const sub = `${p}/${entry}`;
      if (SUBDIRS.has(entry)) {
        for (const inner of fs.readdirSync(sub)) rmSync.call(fs, `${sub}/${inner}`, { recursive: true, force: true });
      } else {
        rmSync.call(fs, sub, { recursive: true, force: true });
      }
    }
    for (const d of SUBDIRS) mkdirSync.call(fs, `${p}/${d}`, { recursive: true });
    pooled.add(p);
    pool.push(p);
  };
  syncBuiltinESMExports();
}
