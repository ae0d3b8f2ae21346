import type { GatherStep, MetadataStore } from '../store/metadata-store.js';
import type { ObjectStore } from '../store/object-store.js';

/**
 * Fire a gather task: its input is a listing object, one `HASH<TAB>NAME` line per output
 * of the current steps upstream, sorted. Equal listings are equal objects, so the same set
 * of inputs never runs the gather twice.
 */
export async function fireGather(meta: MetadataStore, store: ObjectStore, taskId: number): Promise<GatherStep> {
  const entries = await meta.gatherListing(taskId);
  const lines = [...new Set(entries.map((e) => `${e.hash}\t${e.name}`))].sort(byBytes);
  const put = await store.putBytes(lines.length === 0 ? '' : `${lines.join('\n')}\n`);
  const from = [...new Set(entries.map((e) => e.stepId))];
  return meta.ensureGatherStep(taskId, { hash: put.hash, size: put.size, name: 'listing' }, from);
}

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
