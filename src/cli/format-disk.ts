import type { DiskUse } from '../store/inspect/disk-use.js';
import { formatBytes } from './format.js';

/** One line: the db directory on disk by part, and what `gc -history` would give back. */
export function formatDisk(d: DiskUse): string {
  const h = d.historyFrees;
  return (
    `disk: ${formatBytes(d.total)}: objects ${formatBytes(d.objects)}${d.objectsMeasured ? '' : ' (estimated from their sizes)'}, ` +
    `${d.shardDirCount} shard director${d.shardDirCount === 1 ? 'y' : 'ies'} ${formatBytes(d.shardDirs)}${d.sqlite === null ? '' : `, SQLite ${formatBytes(d.sqlite)}`}` +
    (h === null
      ? '\n'
      : `; gc -history would free ${h.objects} object${h.objects === 1 ? '' : 's'} (${formatBytes(h.bytes)}, ${formatBytes(h.disk)} on disk)\n`)
  );
}
