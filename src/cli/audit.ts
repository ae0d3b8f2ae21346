import { UserError } from '../errors.js';
import { audit } from '../aside/audit.js';
import { loadManifest } from '../manifest/index.js';
import { COMMON_FLAGS, DB_FLAG, STORE_FLAG, type Command } from './command.js';
import { withInspectDb } from './inspect-db.js';

export const command: Command = {
  name: 'audit',
  summary:
    "Re-run a sample of each task's done steps aside and compare their outputs: finds tasks that would make caching lie.",
  usage: 'audit -manifest m.toml [-db ./db | -db postgres://... -store DIR] [-task NAME]... [-sample N|all] [-seed S]',
  examples: [
    'task-pipeline audit -manifest m.toml -db ./db',
    'task-pipeline audit -manifest m.toml -db ./db -task fetch -sample all',
  ],
  flags: {
    manifest: { type: 'string', value: 'FILE', help: 'the manifest whose current task versions to audit (required)' },
    db: DB_FLAG,
    store: STORE_FLAG,
    task: { type: 'list', value: 'NAME', help: 'audit only this task (default: every task)' },
    sample: { type: 'string', value: 'N|all', default: '10', help: 'done steps re-run per task' },
    seed: {
      type: 'string',
      value: 'S',
      help: 'the sampling seed (default: random; printed, so a finding can be reproduced)',
    },
    ...COMMON_FLAGS,
  },
  notes: [
    'Steps run in scratch directories outside the db, with the environment a run gives them; nothing is written to',
    '  the db or the store. A step whose outputs differ (bytes, or names) from those recorded, or that fails now, is',
    '  listed: the task is not deterministic, and its cached results are one draw of several.',
    'A protocol = "lines" task\'s steps each run in a fresh process: state a process kept between steps shows here.',
    'Exit codes: 0 every re-run step reproduced its outputs; 1 a difference; 2 usage, manifest or db error.',
  ],
  async run(args, io) {
    const f = args.flags;
    if (args.positionals.length > 0)
      throw new UserError(
        'EUSAGE',
        `audit: unexpected argument "${args.positionals[0]}"; see 'task-pipeline audit --help'`,
      );
    if (typeof f.manifest !== 'string')
      throw new UserError('EUSAGE', "audit: -manifest FILE is required; see 'task-pipeline audit --help'");
    const sampleText = String(f.sample);
    const sample = sampleText === 'all' ? 'all' : Number(sampleText);
    if (sample !== 'all' && (!Number.isInteger(sample) || sample < 1))
      throw new UserError('EUSAGE', `audit: -sample takes a positive integer or all, not "${sampleText}"`);
    const seed = f.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(f.seed);
    if (!Number.isInteger(seed) || seed < 0)
      throw new UserError('EUSAGE', `audit: -seed takes a non-negative integer, not "${String(f.seed)}"`);
    const manifest = loadManifest(f.manifest);
    const report = await withInspectDb(
      'audit',
      args,
      (db) => audit(db, { manifest, tasks: f.task as string[], sample, seed, timeoutMs: 10 * 60_000 }),
      { objects: true },
    );
    const lines = [`audit: seed ${seed} (again with -seed ${seed})`];
    let differ = false;
    for (const t of report) {
      const bad = t.steps.filter((s) => s.error !== null || s.differs.length > 0);
      if (t.steps.length === 0) lines.push(`${t.name}: no done step of this version to re-run`);
      else if (bad.length === 0)
        lines.push(`${t.name}: deterministic on ${t.steps.length}/${t.steps.length} (of ${t.done} done)`);
      else {
        differ = true;
        lines.push(`${t.name}: NOT deterministic: ${bad.length} of ${t.steps.length} re-run steps differ`);
        for (const s of bad) {
          lines.push(
            `  step ${s.stepId}: ${s.error !== null ? `failed now (${s.error})` : `outputs differ: ${s.differs.join(', ')}`}`,
          );
        }
      }
    }
    io.stdout.write(`${lines.join('\n')}\n`);
    return differ ? 1 : 0;
  },
};
