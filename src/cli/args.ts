import { UserError } from '../errors.js';
import type { FlagSpec, ParsedArgs } from './command.js';
import { nearest } from '../edit-distance.js';

/**
 * Go-style and GNU-style flags alike: -db x, -db=x, --db x, --db=x. `--` ends the flags.
 * Positionals may come before, between or after flags.
 */
export function parseArgs(argv: string[], specs: Record<string, FlagSpec>, command: string): ParsedArgs {
  const flags: ParsedArgs['flags'] = {};
  const positionals: string[] = [];
  // Every message quotes what it refuses on one line; nothing here takes a line break (names never hold one).
  const broken = argv.findIndex((a) => /[\n\r]/.test(a));
  if (broken !== -1) {
    throw new UserError(
      'EUSAGE',
      `${command}: argument ${broken + 1}, ${JSON.stringify(argv[broken])}, holds a line break, which no flag value, name or path here may hold`,
    );
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.default !== undefined) flags[name] = spec.default;
    if (spec.type === 'list') flags[name] = [];
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    // -h is --help everywhere; -n is -dry-run, as with make.
    const key = name === 'h' ? 'help' : name === 'n' && specs['dry-run'] ? 'dry-run' : name;
    const spec = specs[key];
    if (!spec) {
      const hint = nearest(key, Object.keys(specs));
      throw new UserError(
        'EUSAGE',
        `${command}: unknown flag -${name}${hint ? ` (did you mean -${hint}?)` : ''}; see 'task-pipeline ${command} --help'`,
      );
    }
    let value: string | undefined = eq === -1 ? undefined : body.slice(eq + 1);
    if (spec.type === 'bool') {
      if (value === undefined) flags[key] = true;
      else if (/^(true|1|yes)$/i.test(value)) flags[key] = true;
      else if (/^(false|0|no)$/i.test(value)) flags[key] = false;
      else throw new UserError('EUSAGE', `${command}: -${name} takes true or false, not "${value}"`);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length)
        throw new UserError('EUSAGE', `${command}: -${name} needs a value (${spec.value ?? 'VALUE'})`);
      value = argv[++i]!;
    }
    if (spec.type === 'int') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1)
        throw new UserError('EUSAGE', `${command}: -${name} must be a positive integer, not "${value}"`);
      flags[key] = n;
    } else if (spec.type === 'list') {
      (flags[key] as string[]).push(value);
    } else {
      flags[key] = value;
    }
  }
  return { flags, positionals };
}
