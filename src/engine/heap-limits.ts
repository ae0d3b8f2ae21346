import { setFlagsFromString } from 'node:v8';

/**
 * V8 sizes its heap by the allocation rate, not by what is live: over a long run its young
 * generation grows to two 16 MiB semi-spaces, and its old generation to a few times what
 * survives, although a run keeps only 11-14 MB live at any number of inputs (bench/PROFILE.md,
 * "Peak RSS against the number of inputs"). These two limits are read at each collection, so
 * they apply from the moment they are set: the young generation keeps the size it has when the
 * run starts, 2-4 MB (a run's objects die young: a scavenge costs what survives, not the
 * space's size), and the old generation grows by half of what was live at the last full
 * collection instead of up to 4x.
 */
export function limitHeapGrowth(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--heap-growing-percent=50');
}
