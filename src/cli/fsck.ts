import { UserError } from '../errors.js';
import { join } from 'node:path';
import type { InspectDb } from '../store/inspect/query.js';
import { repairStore, type RepairReport } from '../store/inspect/repair.js';
import { damaged, verifyStore, type Damage } from '../store/inspect/verify.js';
import { COMMON_FLAGS, DB_FLAG, STORE_FLAG, type Command, type Io } from './command.js';
import { formatBytes } from './format.js';
import { withInspectDb } from './inspect-db.js';

export const command: Command = {
  name: 'fsck',
  summary: 'Check the store: re-hash every object file, and find the objects rows name but whose file is missing.',
  usage: 'fsck [-db ./db | -db postgres://... -store DIR] [-repair]',
  examples: ['task-pipeline fsck -db ./db', 'task-pipeline fsck -db ./db -repair'],
  flags: {
    db: DB_FLAG,
    store: STORE_FLAG,
    repair: {
      type: 'bool',
      help: 'move corrupt objects to <db>/damaged/ and make the steps that produced them pending again',
    },
    ...COMMON_FLAGS,
  },
  notes: [
    'Reports, one per line: corrupt HASH (the bytes do not hash to the name), missing HASH (referenced, no file),',
    'stray PATH (not laid out as objects/AB/CD/<60 hex>), and a warning for objects made writable.',
    '-repair: a corrupt object moves to <db>/damaged/; every step that produced a corrupt or missing object is pending',
    '  again, so the next run rebuilds it; a damaged run input is named with the -input that restores it. It takes the',
    '  db lock (never beside a run). Exit 0 when everything found can be rebuilt by a run, 1 otherwise.',
    'Exit codes: 0 no damage; 1 damage found (corrupt, missing or stray); 2 no db, bad flag.',
  ],
  async run(args, io) {
    if (args.positionals.length > 0)
      throw new UserError(
        'EUSAGE',
        `fsck: unexpected argument "${args.positionals[0]}"; see 'task-pipeline fsck --help'`,
      );
    // Read-only unless it repairs (under the lock).
    const repair = Boolean(args.flags.repair);
    return withInspectDb('fsck', args, (db) => check(db, repair, io), { write: repair, objects: true });
  },
};

async function check(db: InspectDb, repair: boolean, io: Io): Promise<number> {
  const found: Damage[] = [];
  const r = await verifyStore(db, (d) => {
    found.push(d);
    io.stdout.write(`${formatDamage(d)}\n`);
  });
  const summary =
    `fsck: ${r.checked} objects checked (${formatBytes(r.bytes)}): ${r.corrupt} corrupt, ${r.missing} missing, ${r.stray} stray` +
    `${r.writable > 0 ? `, ${r.writable} writable` : ''}${damaged(r) ? '' : '; ok'}`;
  io.stdout.write(`${summary}\n`);
  if (!repair || !damaged(r)) return damaged(r) ? 1 : 0;
  const fix = await repairStore(db, found);
  io.stdout.write(formatRepair(fix, db.store));
  return fix.inputs.length > 0 || fix.historyOnly.length > 0 || r.stray > 0 ? 1 : 0;
}

function formatRepair(f: RepairReport, dbDir: string): string {
  const lines = [
    `repair: ${f.movedAside.length} corrupt object${f.movedAside.length === 1 ? '' : 's'} moved to ${join(dbDir, 'damaged')}; ` +
      `${f.rerun} step${f.rerun === 1 ? '' : 's'} that produced damaged objects ${f.rerun === 1 ? 'is' : 'are'} pending again: ` +
      `run the manifest to rebuild them`,
  ];
  if (f.logsLost > 0)
    lines.push(
      `repair: ${f.logsLost} step log${f.logsLost === 1 ? ' was' : 's were'} damaged and dropped (a log comes back only by re-running its step)`,
    );
  for (const s of f.historyOnly)
    lines.push(
      `repair: ${s} belongs to a task version no longer in the manifest: a run of the current manifest will not rebuild it`,
    );
  for (const i of f.inputs)
    lines.push(
      `repair: run input "${i.name}" (${i.hash.slice(0, 12)}) is damaged and only you have its bytes: give it again with ${i.restore}`,
    );
  return `${lines.join('\n')}\n`;
}

function formatDamage(d: Damage): string {
  switch (d.kind) {
    case 'corrupt':
      return `corrupt   ${d.hash}: ${d.detail} (${d.path})`;
    case 'missing':
      return `missing   ${d.hash}: no file at ${d.path}; named by ${d.referencedBy.join(', ')}`;
    case 'stray':
      return `stray     ${d.path}: ${d.detail}`;
    case 'writable':
      return `writable  ${d.hash}: objects are read-only (0444); someone made it writable (${d.path})`;
  }
}
