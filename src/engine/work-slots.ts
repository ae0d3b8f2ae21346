import { closeSync, existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

/** A step's working directory, tmp/slot-<n>/. Reused by the next step when left clean. */
export interface Slot {
  dir: string;
  inDir: string;
  outDir: string;
  scratch: string;
  log: string;
  /** The log, kept open while the steps here leave it empty (most do): then it needs no new file. */
  logFd: number | null;
  /** scratch/'s mtime when it was last found empty, if old enough to be trusted (see release). */
  scratchClean: number | null;
}

/** A directory modified this long ago keeps its mtime until its next change, whatever the clock's tick. */
const SETTLED_MS = 100;

/**
 * Working directories under tmp/, one per step in flight, kept from step to step: making
 * and removing four directories per step costs more kernel time than many scripts take.
 * A slot keeps its name whichever step works in it: renaming it for each step cost a
 * rename per step. `task-pipeline log` finds a running step's slot through its script's
 * environment instead (running-scripts.ts). A slot that a failure or an interrupt left in
 * an unknown state is removed, not reused.
 */
export class WorkSlots {
  private readonly free: Slot[] = [];
  private made = 0;

  /** tmpDir is normalised (the store's): slot paths are built by concatenation. */
  constructor(private readonly tmpDir: string) {}

  acquire(): Slot {
    const reused = this.free.pop();
    if (reused) return reused;
    const dir = `${this.tmpDir}/slot-${this.made++}`;
    const slot: Slot = {
      dir,
      inDir: `${dir}/in`,
      outDir: `${dir}/out`,
      scratch: `${dir}/scratch`,
      log: `${dir}/log`,
      logFd: null,
      scratchClean: null,
    };
    mkdirSync(dir, { recursive: true });
    for (const d of [slot.inDir, slot.outDir, slot.scratch]) mkdirSync(d);
    return slot;
  }

  /** Give back a slot whose out/ and in/ the step has emptied (its input links removed); scratch/ is emptied here. */
  release(slot: Slot): void {
    // Most scripts never use TMPDIR: an unchanged mtime says so in one call, where a listing
    // takes five. A change made within the clock tick of the last one could leave the mtime as
    // it was, so only an mtime older than any tick is trusted.
    const clean = slot.scratchClean;
    if (clean === null || statSync(slot.scratch).mtimeMs !== clean) {
      emptyDir(slot.scratch);
      const mtime = statSync(slot.scratch).mtimeMs;
      slot.scratchClean = Date.now() - mtime > SETTLED_MS ? mtime : null;
    }
    this.free.push(slot);
  }

  /** A new, empty out/ in place of the old one (emptied by the step). */
  renewOutDir(slot: Slot): void {
    rmdirSync(slot.outDir);
    mkdirSync(slot.outDir);
  }

  discard(slot: Slot): void {
    if (slot.logFd !== null) closeSync(slot.logFd);
    slot.logFd = null;
    // A clean slot is four names: removed by name, a call each (a run with -parallel 2 ends with 66
    // slots, its launch-ahead's). Anything else a step left there goes through rmSync.
    try {
      if (existsSync(slot.log)) unlinkSync(slot.log);
      for (const d of [slot.inDir, slot.outDir, slot.scratch, slot.dir]) rmdirSync(d);
    } catch {
      rmSync(slot.dir, { recursive: true, force: true });
    }
  }

  /** At the end of a run: tmp/ is left empty. */
  close(): void {
    for (const slot of this.free.splice(0)) this.discard(slot);
  }
}

/** Everything in dir removed, dir kept. */
export function emptyDir(dir: string): void {
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
}
