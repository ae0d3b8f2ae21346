import type { GatherStep, MetadataStore } from '../store/metadata-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { listingLine, type ListingEntry } from '../store/listing.js';

/**
 * Fire a gather task: its input is a listing object, one `HASH<TAB>NAME<TAB>FROM` line per
 * output of each current step upstream (FROM: the item that step processed), sorted. Every
 * step's outputs count, so three inputs that each yield `n` = `3` are three lines; equal
 * listings are equal objects, so the same set of upstream results never runs the gather twice.
 */
export async function fireGather(meta: MetadataStore, store: ObjectStore, taskId: number): Promise<GatherStep> {
  const entries = await meta.gatherListing(taskId);
  const put = await store.putBytes(listingBytes(entries), 'in-listing');
  const from = [...new Set(entries.map((e) => e.stepId))];
  return meta.ensureGatherStep(taskId, { hash: put.hash, size: put.size, name: 'listing' }, from);
}

/** A gather's listing: its lines sorted by their bytes, so that equal sets are equal objects. */
export function listingBytes(entries: ListingEntry[]): Buffer {
  return Buffer.concat(entries.map((e) => Buffer.from(listingLine(e.hash, e.name, e.fromName))).sort(Buffer.compare));
}
