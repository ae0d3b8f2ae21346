import type { GatherStep, MetadataStore } from '../store/metadata-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { listingLine } from '../store/listing.js';

/**
 * Fire a gather task: its input is a listing object, one `HASH<TAB>NAME<TAB>FROM` line per
 * output of each current step upstream (FROM: the item that step processed), sorted. Every
 * step's outputs count, so three inputs that each yield `n` = `3` are three lines; equal
 * listings are equal objects, so the same set of upstream results never runs the gather twice.
 */
export async function fireGather(meta: MetadataStore, store: ObjectStore, taskId: number): Promise<GatherStep> {
  const entries = await meta.gatherListing(taskId);
  const lines = entries.map((e) => Buffer.from(listingLine(e.hash, e.name, e.fromName))).sort(Buffer.compare);
  const put = await store.putBytes(Buffer.concat(lines), 'in-listing');
  const from = [...new Set(entries.map((e) => e.stepId))];
  return meta.ensureGatherStep(taskId, { hash: put.hash, size: put.size, name: 'listing' }, from);
}
