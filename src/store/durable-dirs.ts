import { closeSync, fsyncSync, openSync } from 'node:fs';

/**
 * -durable: what makes an object's name, not only its bytes, survive a power loss. A name is on
 * disk once every directory on its path has been fsynced since it got its entry: the shard after
 * each rename into it, and objects/AB/CD in objects/AB, objects/AB in objects/, objects/ in the db
 * directory, which may all have been made by this run or by an earlier run without -durable.
 * Each of those is fsynced once per process: a directory that existed when it was fsynced keeps
 * its entry (only gc removes shards, never during a run). The same rules are in the C helper
 * (native/fsync-path.c), which stores most outputs itself.
 */
export class DurableDirs {
  /** Shards fsynced once already: the entries they held then are on disk. */
  private readonly contents = new Set<string>();
  /** Directories (a shard, objects/AB, objects) whose entry in their parent is on disk. */
  private readonly named = new Set<string>();

  /** base: the db directory, normalised; shard: objects/AB/CD under it. */
  constructor(private readonly base: string) {}

  /** After a rename of an object into `shard` (renamed), or once an object was found there already. */
  settle(shard: string, renamed: boolean): void {
    if (renamed || !this.contents.has(shard)) {
      fsyncPath(`${this.base}/${shard}`);
      this.contents.add(shard);
    }
    // objects/AB/CD in objects/AB, objects/AB in objects, objects in the db directory: each once.
    for (let dir = shard; ; dir = dir.slice(0, dir.lastIndexOf('/'))) {
      if (!this.named.has(dir)) {
        const slash = dir.lastIndexOf('/');
        fsyncPath(slash < 0 ? this.base : `${this.base}/${dir.slice(0, slash)}`);
        this.named.add(dir);
      }
      if (!dir.includes('/')) break;
    }
  }
}

/** fsync a file or directory by its path. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
