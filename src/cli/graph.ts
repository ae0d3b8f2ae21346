import { UserError } from '../errors.js';
import { loadManifest, type Manifest } from '../manifest/index.js';
import { COMMON_FLAGS, type Command } from './command.js';
import { nearest } from '../edit-distance.js';

const FORMATS = ['mermaid', 'dot'];

export const command: Command = {
  name: 'graph',
  summary: "Draw a manifest's task graph as Mermaid (default) or Graphviz dot; no db needed.",
  usage: 'graph -manifest m.toml [-format mermaid|dot]',
  examples: [
    'task-pipeline graph -manifest m.toml > graph.mmd',
    'task-pipeline graph -manifest m.toml -format dot | dot -Tsvg > graph.svg',
  ],
  flags: {
    manifest: { type: 'string', value: 'FILE', help: 'the TOML manifest (required)' },
    format: { type: 'string', value: 'FORMAT', default: 'mermaid', help: 'mermaid or dot' },
    ...COMMON_FLAGS,
  },
  notes: [
    'An edge is labelled with the match globs of the task it feeds; gather tasks are drawn apart (a double box),',
    'and the run inputs enter at the root tasks.',
  ],
  async run(args, io) {
    const f = args.flags;
    if (args.positionals.length > 0)
      throw new UserError(
        'EUSAGE',
        `graph: unexpected argument "${args.positionals[0]}"; see 'task-pipeline graph --help'`,
      );
    if (typeof f.manifest !== 'string')
      throw new UserError('EUSAGE', "graph: -manifest FILE is required; see 'task-pipeline graph --help'");
    const format = String(f.format);
    if (!FORMATS.includes(format)) {
      const hint = nearest(format, FORMATS);
      throw new UserError(
        'EUSAGE',
        `graph: -format ${format}: unknown format${hint ? ` (did you mean ${hint}?)` : ''}; use mermaid or dot`,
      );
    }
    const m = loadManifest(f.manifest);
    io.stdout.write(format === 'dot' ? dot(m) : mermaid(m));
    return 0;
  },
};

interface Edge {
  from: string;
  to: string;
  label: string | null;
}

function edgesOf(m: Manifest): Edge[] {
  return m.tasks.flatMap((t) =>
    t.inputs.map((from) => ({ from, to: t.name, label: t.match === null ? null : t.match.join(' ') })),
  );
}

/** Mermaid ids must be plain words: task names may hold "." and "-", so tasks get t0, t1, ... and a label. */
export function mermaid(m: Manifest): string {
  const id = new Map(m.tasks.map((t, i) => [t.name, `t${i}`]));
  const q = (s: string) => `"${s.replace(/"/g, '#quot;')}"`;
  const lines = ['flowchart LR', '  inputs(["run inputs"])'];
  for (const t of m.tasks)
    lines.push(`  ${id.get(t.name)}${t.gather ? `[[${q(`${t.name} (gather)`)}]]` : `[${q(t.name)}]`}`);
  for (const t of m.tasks) if (t.inputs.length === 0) lines.push(`  inputs --> ${id.get(t.name)}`);
  for (const e of edgesOf(m))
    lines.push(`  ${id.get(e.from)} -->${e.label === null ? '' : `|${q(e.label)}|`} ${id.get(e.to)}`);
  return `${lines.join('\n')}\n`;
}

export function dot(m: Manifest): string {
  const q = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  // Task names start with a letter or digit, so "_inputs" can never be one of them.
  const lines = [
    'digraph pipeline {',
    '  rankdir=LR;',
    '  node [shape=box];',
    '  _inputs [label="run inputs", shape=oval];',
  ];
  for (const t of m.tasks)
    lines.push(`  ${q(t.name)}${t.gather ? ` [label=${q(`${t.name} (gather)`)}, peripheries=2]` : ''};`);
  for (const t of m.tasks) if (t.inputs.length === 0) lines.push(`  _inputs -> ${q(t.name)};`);
  for (const e of edgesOf(m))
    lines.push(`  ${q(e.from)} -> ${q(e.to)}${e.label === null ? '' : ` [label=${q(e.label)}]`};`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
