import {
  chmodSync,
  copyFileSync,
  constants as fsc,
  lstatSync,
  mkdirSync,
  renameSync,
  truncateSync,
  utimesSync,
  type BigIntStats,
} from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { BIG, hashPrefix, linkAt, same, stateOf, unlinkQuiet, type InodeState } from './input-link-files.js';

/** One object linked into the slots of the steps now in flight. */
interface Watched extends InodeState {
  hash: string;
  /** Links made and not yet removed, over every step. */
  users: number;
  /** The step that linked it first. */
  owner: unknown;
  /** Linked by another step too while held: a change cannot be blamed on one script. */
  shared: boolean;
  /** Changed by a script while linked: every step that had it fails. */
  dirty: boolean;
  /** What became of a dirty object: its bytes were restored, or it was moved aside. */
  fate: 'restored' | 'quarantined' | 'gone' | null;
  verifying: Promise<void> | null;
  /** A private copy, not a link: the object has as many links as its filesystem allows (EMLINK). */
  copy: boolean;
}

/** A step's view of one input: the hard link at `path` of object `hash`. */
export interface InputLink {
  hash: string;
  path: string;
  watched: Watched;
  /** Its name in the slot is removed and it no longer counts among the object's users. */
  released: boolean;
}

/** How a step's inputs came out of it. */
export interface InputVerdict {
  /**
   * The first input (its index in the step's links: 0 is INPUT_FILE) that the script changed, or
   * that another step's script changed while this one held it; null when none.
   */
  modified: { link: InputLink; index: number } | null;
  /**
   * Inputs found linked or renamed elsewhere (into OUTPUT_DIR, say) and verified intact, by inode:
   * such an output is the object already, and needs no hashing.
   */
  known: Map<bigint, { hash: string; size: number }>;
}

/**
 * A step's inputs are hard links of the object files into its slot: no byte is copied, and a
 * script reads the object itself. The engine keeps, per object in flight, the inode as its own
 * last link or unlink left it (InodeState); after a step it compares. Equal: untouched (the
 * common case: one stat). Different: the object is re-hashed once (shared by every step
 * holding it), then
 *   - intact, mode and mtime as before: a link, rename or rm by the script; the step may pass;
 *   - intact but chmodded or touched, or grown past an intact prefix (an append): the mode,
 *     mtime and length are put back, and every step holding it fails;
 *   - anything else: the object is moved to <db>/damaged/ (the store never keeps wrong bytes
 *     under a name), and every step holding it fails.
 * Nothing here ever opens a link or an object for writing. An object that takes no more links
 * (EMLINK) is copied instead: that copy is the step's alone (copyAt).
 */
export class InputLinks {
  private readonly live = new Map<string, Watched>();

  constructor(private readonly store: { pathOf(hash: string): string; readonly root: string }) {}

  /**
   * Hard-link object `hash` at dest (a new name in a slot) for `owner` (a step). Throws when the
   * object is missing (moved aside after damage, say).
   */
  async link(hash: string, dest: string, owner: unknown): Promise<InputLink> {
    const obj = this.store.pathOf(hash);
    let w = this.live.get(hash);
    // Another step holds it: our link changes its ctime, so first make sure that no script did.
    if (w !== undefined && !same(lstatSync(obj, BIG), w)) await this.verify(w);
    w = this.live.get(hash);
    try {
      linkAt(obj, dest);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EMLINK') return this.copyAt(hash, obj, dest, owner);
      if (code === 'ENOENT' && lstatSync(obj, { throwIfNoEntry: false }) === undefined) {
        throw new Error(
          `its input object ${hash} is missing from the store (${obj}); task-pipeline fsck lists what is missing`,
        );
      }
      throw err;
    }
    const s = lstatSync(dest, BIG)!;
    if (w !== undefined && w.ino === s.ino) {
      // A write between our stat and our link would hide behind the link's ctime: not behind the mtime or size.
      if (s.mtimeNs !== w.mtimeNs || s.size !== w.size || s.mode !== w.mode) w.ctimeNs = -1n;
      else w.ctimeNs = s.ctimeNs;
      if (w.owner !== owner) w.shared = true;
    } else {
      w = {
        hash,
        ...stateOf(s),
        owner,
        users: 0,
        shared: false,
        dirty: false,
        fate: null,
        verifying: null,
        copy: false,
      };
      this.live.set(hash, w);
    }
    w.users++;
    return { hash, path: dest, watched: w, released: false };
  }

  /**
   * An object linked 65,000 times (ext4's limit: an empty output gathered by the thousand) takes
   * no more links: this step gets a private read-only copy, which only it can change.
   */
  private copyAt(hash: string, obj: string, dest: string, owner: unknown): InputLink {
    copyFileSync(obj, dest, fsc.COPYFILE_FICLONE);
    chmodSync(dest, 0o444);
    const s = lstatSync(dest, BIG)!;
    const w: Watched = {
      hash,
      ...stateOf(s),
      owner,
      users: 1,
      shared: false,
      dirty: false,
      fate: null,
      verifying: null,
      copy: true,
    };
    return { hash, path: dest, watched: w, released: false };
  }

  /**
   * For an executor that checks the input itself (the C helper): the file to stat when the
   * script ends, and the inode it must find, `ino size mtime_ns ctime_ns mode` in decimal.
   */
  expected(link: InputLink): { path: string; state: string } {
    const w = link.watched;
    return {
      path: w.copy ? link.path : this.store.pathOf(w.hash),
      state: `${w.ino} ${w.size} ${w.mtimeNs} ${w.ctimeNs} ${w.mode}`,
    };
  }

  /**
   * Check the step's inputs after its script ended and remove its links (every one, whatever
   * happened). `sameAsExpected`: the executor found links[0]'s object as expected() said when
   * the script exited, which spares a stat (only when no other step holds it: one that does
   * could have changed it since).
   */
  async settle(links: InputLink[], sameAsExpected = false): Promise<InputVerdict> {
    const verdict: InputVerdict = { modified: null, known: new Map() };
    for (const [i, link] of links.entries()) {
      const w = link.watched;
      let fails = w.dirty;
      if (!fails && !(i === 0 && sameAsExpected && w.users === 1)) {
        const at = lstatSync(link.path, BIG);
        if (!same(at, w)) {
          // A private copy concerns this step alone: changed fails it, removed or moved away is allowed.
          fails = w.copy ? at !== undefined : await this.inspect(link, at);
          // Linked or renamed somewhere by the script, and intact: an output that is this inode is this object.
          if (!fails && !w.copy) verdict.known.set(w.ino, { hash: w.hash, size: Number(w.size) });
        }
      }
      if (fails && verdict.modified === null) verdict.modified = { link, index: i };
      this.unlinkOne(link);
    }
    return verdict;
  }

  /** Remove the links settle() has not (a step that failed before its script ran, or while they were checked). */
  drop(links: InputLink[]): void {
    for (const link of links) if (!link.released) this.unlinkOne(link);
  }

  /** After a difference at the link: whether the step must fail for it. */
  private async inspect(link: InputLink, at: BigIntStats | undefined): Promise<boolean> {
    const w = link.watched;
    if (!same(lstatSync(this.store.pathOf(w.hash), BIG), w)) await this.verify(w);
    if (w.dirty) return true;
    // The object is intact (as recorded, or verified and recorded again): only the link changed.
    // Removed or moved away is allowed; another file in its place (sed -i) is a changed INPUT_FILE.
    return at !== undefined && at.ino !== w.ino;
  }

  /**
   * Re-hash a changed object once, however many steps ask, and repair what can be: see the
   * class comment. Ends with the object's state recorded again (or with it gone from `live`).
   */
  private verify(w: Watched): Promise<void> {
    w.verifying ??= this.verifyNow(w).finally(() => {
      w.verifying = null;
    });
    return w.verifying;
  }

  private async verifyNow(w: Watched): Promise<void> {
    const path = this.store.pathOf(w.hash);
    const now = lstatSync(path, BIG);
    if (now === undefined || now.ino !== w.ino) {
      // Moved aside by an earlier check, or replaced since: the inode the steps hold is not the object.
      this.spoil(w, 'gone');
      return;
    }
    const { hash, size } = await hashPrefix(path, Number(w.size));
    if (hash !== w.hash || size < Number(w.size)) {
      this.quarantine(w, path);
      return;
    }
    let touched = now.mode !== w.mode || now.mtimeNs !== w.mtimeNs;
    if (size > Number(w.size)) {
      truncateSync(path, Number(w.size));
      touched = true;
    }
    if (touched) {
      chmodSync(path, Number(w.mode & 0o7777n));
      const secs = Number(w.mtimeNs) / 1e9;
      utimesSync(path, secs, secs);
      this.spoil(w, 'restored');
    } else if (same(lstatSync(path, BIG), stateOf(now))) {
      // Linked, renamed or removed by a script: the bytes are the object's, its new ctime the reference
      // now (unless it changed again while it was read: then the next check looks again).
      w.ctimeNs = now.ctimeNs;
    }
  }

  /** Damaged bytes leave the store: <db>/damaged/<hash> (.2, .3 ... if taken), as fsck -repair does. */
  private quarantine(w: Watched, path: string): void {
    const dir = join(this.store.root, 'damaged');
    mkdirSync(dir, { recursive: true });
    let target = join(dir, w.hash);
    for (let n = 2; lstatSync(target, { throwIfNoEntry: false }) !== undefined; n++)
      target = join(dir, `${w.hash}.${n}`);
    renameSync(path, target);
    this.spoil(w, 'quarantined');
  }

  /** Every step holding it fails; a step that links it from now on starts afresh. */
  private spoil(w: Watched, fate: NonNullable<Watched['fate']>): void {
    w.dirty = true;
    w.fate = fate;
    if (this.live.get(w.hash) === w) this.live.delete(w.hash);
  }

  private unlinkOne(link: InputLink): void {
    const w = link.watched;
    link.released = true;
    const current = this.live.get(w.hash) === w && w.users > 1;
    // Only a state found as recorded is carried over our unlink; else the difference stays for the others to see.
    const carry = current && same(lstatSync(this.store.pathOf(w.hash), BIG), w);
    // A link renamed away by its script is not there any more: nothing to remove.
    unlinkQuiet(link.path);
    w.users--;
    if (w.users === 0 && this.live.get(w.hash) === w) this.live.delete(w.hash);
    if (!carry) return;
    const s = lstatSync(this.store.pathOf(w.hash), BIG);
    if (s !== undefined && s.ino === w.ino) w.ctimeNs = s.ctimeNs;
  }

  /** What became of an input a step is failed for, to add to its error (see execute-step.ts). */
  aftermath(link: InputLink): string {
    const w = link.watched;
    const others = w.shared ? ' (or the script of another step holding the same object at the same time did)' : '';
    const fate =
      w.fate === 'quarantined'
        ? `; its bytes were damaged: the object was moved to ${join(this.store.root, 'damaged', w.hash)} (fsck reports it missing until the same bytes are stored again)`
        : w.fate === 'restored'
          ? '; its bytes were intact: their mode, mtime and length were put back'
          : '';
    return `${others}${fate}`;
  }
}
