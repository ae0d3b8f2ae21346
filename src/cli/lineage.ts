import { UserError } from '../errors.js';
import { findObject } from '../store/inspect/find-object.js';
import { lineage, type Lineage, type LineageObject, type LineageStep } from '../store/inspect/lineage.js';
import { COMMON_FLAGS, DB_FLAG, STORE_FLAG, JSON_FLAG, type Command } from './command.js';
import { formatBytes } from './format.js';
import { withInspectDb } from './inspect-db.js';

export const command: Command = {
  name: 'lineage',
  summary:
    'Draw where an object came from: the steps that produced it, their inputs, and so on back to the run inputs or the seed.',
  usage: 'lineage [-db ./db | -db postgres://... -store DIR] HASH|PREFIX [-depth N] [-width N] [-limit N] [-json]',
  examples: ['task-pipeline lineage -db ./db 3f2a9c0e', 'task-pipeline lineage -db ./db 3f2a9c0e -json'],
  flags: {
    db: DB_FLAG,
    store: STORE_FLAG,
    depth: { type: 'int', value: 'N', default: 30, help: 'follow at most N steps back' },
    width: {
      type: 'int',
      value: 'N',
      default: 10,
      help: 'at most N producers per object and N inputs per gather step',
    },
    limit: { type: 'int', value: 'N', default: 500, help: 'draw at most N steps in all' },
    json: JSON_FLAG,
    ...COMMON_FLAGS,
  },
  notes: [
    'Each line is an object (short hash, name, size) and, after "<-", the step that produced it (task, step id).',
    'A step drawn once is not expanded again ("shown above"): shared ancestors and iterative tasks (cycles) stay finite.',
  ],
  async run(args, io) {
    const [ref, extra] = args.positionals;
    if (ref === undefined || extra !== undefined)
      throw new UserError('EUSAGE', "lineage: give one HASH or PREFIX; see 'task-pipeline lineage --help'");
    const tree = await withInspectDb(
      'lineage',
      args,
      async (db) =>
        lineage(db, await findObject(db, ref), {
          depth: Math.min(args.flags.depth as number, 1000),
          width: args.flags.width as number,
          maxSteps: args.flags.limit as number,
        }),
      { objects: true },
    );
    io.stdout.write(args.flags.json ? `${JSON.stringify(tree, null, 2)}\n` : drawLineage(tree));
    return 0;
  },
};

/** The tree as text: one object per line; an object made by one step carries it on its own line. */
function drawLineage(l: Lineage): string {
  const lines: string[] = [];
  drawObject(l.root, '', '', lines);
  if (l.truncated) {
    lines.push(
      '',
      `(cut short: at most ${l.options.depth} steps deep, ${l.options.width} wide, ${l.options.maxSteps} steps in all; raise -depth, -width or -limit to see more)`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function drawObject(o: LineageObject, first: string, rest: string, lines: string[]): void {
  const single = o.producers.length === 1 && o.moreProducers === 0 ? o.producers[0]! : null;
  // The object asked about has no name of its own: it takes its producers' name when they agree on one.
  const given = [...new Set(o.producers.flatMap((p) => p.outputNames))];
  const name = o.name ?? (given.length === 1 ? given[0]! : null);
  const label = [
    o.hash.slice(0, 12),
    name === null ? '' : name === '' ? '(seed)' : name,
    o.size === null ? '' : formatBytes(o.size),
  ]
    .filter((s) => s !== '')
    .join('  ');
  const notes: string[] = [];
  if (o.runInputs.length > 0) notes.push(`run input ${o.runInputs.map((n) => JSON.stringify(n)).join(', ')}`);
  if (o.seed) notes.push('seed: the empty input of a root task');
  const children: { draw: (f: string, r: string) => void }[] = [];
  if (single) {
    notes.push(`<- ${stepLabel(single, name)}`);
    for (const c of stepChildren(single)) children.push(c);
  } else {
    if (o.producers.length === 0 && o.moreProducers === 0 && o.runInputs.length === 0 && !o.seed && o.name === null) {
      notes.push('produced by no step: not an output (a log or a gather listing?)');
    }
    for (const p of o.producers) children.push({ draw: (f, r) => drawStep(p, name, f, r, lines) });
    if (o.moreProducers > 0)
      children.push({ draw: (f) => lines.push(`${f}... and ${o.moreProducers} more producers`) });
  }
  lines.push(`${first}${label}${notes.length > 0 ? `  ${notes.join('; ')}` : ''}`);
  drawChildren(children, rest);

  function stepChildren(s: LineageStep): { draw: (f: string, r: string) => void }[] {
    const out = s.inputs.map((i) => ({ draw: (f: string, r: string) => drawObject(i, f, r, lines) }));
    if (s.moreInputs > 0) out.push({ draw: (f) => lines.push(`${f}... and ${s.moreInputs} more inputs`) });
    return out;
  }
}

function drawStep(s: LineageStep, objectName: string | null, first: string, rest: string, lines: string[]): void {
  lines.push(`${first}<- ${stepLabel(s, objectName)}`);
  const children = s.inputs.map((i) => ({ draw: (f: string, r: string) => drawObject(i, f, r, lines) }));
  if (s.moreInputs > 0) children.push({ draw: (f) => lines.push(`${f}... and ${s.moreInputs} more inputs`) });
  drawChildren(children, rest);
}

function drawChildren(children: { draw: (f: string, r: string) => void }[], rest: string): void {
  children.forEach((c, i) => {
    const last = i === children.length - 1;
    c.draw(`${rest}${last ? '└─ ' : '├─ '}`, `${rest}${last ? '   ' : '│  '}`);
  });
}

function stepLabel(s: LineageStep, objectName: string | null): string {
  const parts = [`${s.task} step ${s.stepId}`];
  if (!s.current) parts.push(`(old version ${s.version.slice(0, 8)})`);
  if (s.status !== 'done') parts.push(`[${s.status}]`);
  // The step's own names for the bytes, when they are not the name the object is drawn with.
  if (s.outputNames.length > 0 && !(s.outputNames.length === 1 && s.outputNames[0] === objectName))
    parts.push(`as ${s.outputNames.join(', ')}`);
  if (s.gather)
    parts.push(
      `gather over listing ${s.gather.listing.slice(0, 12)} (${s.gather.entries} object${s.gather.entries === 1 ? '' : 's'})`,
    );
  if (s.repeated) parts.push('(shown above)');
  if (s.cut === 'depth') parts.push('(depth limit: not followed)');
  return parts.join(' ');
}
