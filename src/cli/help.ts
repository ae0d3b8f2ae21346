import type { Command } from './command.js';

export function commandHelp(c: Command): string {
  const lines = [`usage: task-pipeline ${c.usage}`, '', c.summary, '', 'flags:'];
  const names = Object.keys(c.flags);
  const labels = names.map((n) => {
    const f = c.flags[n]!;
    return f.type === 'bool' ? `-${n}` : `-${n} ${f.value ?? 'VALUE'}`;
  });
  const width = Math.max(...labels.map((l) => l.length));
  names.forEach((n, i) => {
    const f = c.flags[n]!;
    const def = f.default !== undefined && f.type !== 'bool' ? ` (default ${f.default})` : '';
    const rep = f.type === 'list' ? ' (repeatable)' : '';
    lines.push(`  ${labels[i]!.padEnd(width)}  ${f.help}${def}${rep}`);
  });
  if (c.notes?.length) lines.push('', ...c.notes);
  lines.push('', 'example:', ...c.examples.map((e) => `  ${e}`));
  lines.push('', 'Flags work Go-style and GNU-style alike: -db x, -db=x, --db x, --db=x.');
  return `${lines.join('\n')}\n`;
}
