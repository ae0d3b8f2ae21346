import { UserError } from '../errors.js';
import { openDatabase } from '../store/database.js';
import { damaged, verifyStore, type Damage } from '../store/inspect/verify.js';
import { COMMON_FLAGS, DB_FLAG, type Command } from './command.js';
import { formatBytes } from './format.js';

export const command: Command = {
  name: 'fsck',
  summary: 'Check the store: re-hash every object file, and find the objects rows name but whose file is missing.',
  usage: 'fsck [-db ./db]',
  examples: ['task-pipeline fsck -db ./db'],
  flags: { db: DB_FLAG, ...COMMON_FLAGS },
  notes: [
    'Reports, one per line: corrupt HASH (the bytes do not hash to the name), missing HASH (referenced, no file),',
    'stray PATH (not laid out as objects/AB/CD/<60 hex>), and a warning for objects made writable.',
    'Exit codes: 0 no damage; 1 damage found (corrupt, missing or stray); 2 no db, bad flag.',
  ],
  async run(args, io) {
    if (args.positionals.length > 0) throw new UserError('EUSAGE', `fsck: unexpected argument "${args.positionals[0]}"; see 'task-pipeline fsck --help'`);
    const dbDir = String(args.flags.db);
    const db = openDatabase(dbDir, {});
    try {
      const r = await verifyStore(db, dbDir, (d) => io.stdout.write(`${formatDamage(d)}\n`));
      const summary = `fsck: ${r.checked} objects checked (${formatBytes(r.bytes)}): ${r.corrupt} corrupt, ${r.missing} missing, ${r.stray} stray` +
        `${r.writable > 0 ? `, ${r.writable} writable` : ''}${damaged(r) ? '' : '; ok'}`;
      io.stdout.write(`${summary}\n`);
      return damaged(r) ? 1 : 0;
    } finally {
      db.close();
    }
  },
};

function formatDamage(d: Damage): string {
  switch (d.kind) {
    case 'corrupt': return `corrupt   ${d.hash}: ${d.detail} (${d.path})`;
    case 'missing': return `missing   ${d.hash}: no file at ${d.path}; named by ${d.referencedBy.join(', ')}`;
    case 'stray': return `stray     ${d.path}: ${d.detail}`;
    case 'writable': return `writable  ${d.hash}: objects are read-only (0444); someone made it writable (${d.path})`;
  }
}
