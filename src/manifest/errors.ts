export interface ManifestProblem {
  /** The manifest path as the user gave it, so messages match what they typed. */
  file: string;
  line: number | null;
  task: string | null;
  field: string | null;
  message: string;
}

// One error for the whole manifest: users fix every problem in one pass instead of one per run.
export class ManifestError extends Error {
  readonly code = 'EMANIFEST';
  readonly problems: ManifestProblem[];

  constructor(problems: ManifestProblem[], options?: { cause?: unknown }) {
    const first = problems[0];
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    super(first ? `${formatProblem(first)}${more}` : 'invalid manifest', options);
    this.name = 'ManifestError';
    this.problems = problems;
  }
}

/** `m.toml:7: task "count": field "scirpt": unknown key (did you mean "script"?)`, null parts left out. */
export function formatProblem(p: ManifestProblem): string {
  const where = p.line === null ? p.file : `${p.file}:${p.line}`;
  const parts = [where];
  if (p.task !== null) parts.push(`task ${JSON.stringify(p.task)}`);
  if (p.field !== null) parts.push(`field ${JSON.stringify(p.field)}`);
  parts.push(p.message);
  return parts.join(': ');
}
