// One checker per manifest field: each takes the raw TOML value and returns the typed value, or
// undefined after reporting why not. They report every problem they see rather than the first.
import { describeValue, isTable } from './describe-value.js';
import { globError } from './glob.js';

export type Report = (message: string) => void;

export const TASK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// The engine sets these for every step, after `env`: a manifest value would be silently overridden.
const ENGINE_ENV = new Set([
  'INPUT_FILE',
  'INPUT_NAME',
  'INPUT_HASH',
  'INPUT_DIR',
  'OUTPUT_DIR',
  'TASK_NAME',
  'STEP_ID',
  'TMPDIR',
]);

export function checkName(v: unknown, report: Report): string | undefined {
  if (typeof v !== 'string') return void report(`must be a string, got ${describeValue(v)}`);
  if (!TASK_NAME.test(v)) {
    return void report(
      `${JSON.stringify(v)} is not a valid task name: use letters, digits, "_", "." and "-", starting with a letter or digit`,
    );
  }
  return v;
}

export function checkScript(v: unknown, report: Report): string | undefined {
  if (typeof v !== 'string') return void report(`must be a string, got ${describeValue(v)}`);
  if (v.trim() === '') return void report('must not be empty');
  return v;
}

/** Each element is validated on its own, so one bad entry does not hide another. */
function checkStringArray(
  v: unknown,
  what: string,
  report: Report,
  checkItem: (item: string, report: Report) => boolean = () => true,
): string[] | undefined {
  if (!Array.isArray(v)) {
    const hint = typeof v === 'string' ? ` (write [${JSON.stringify(v)}])` : '';
    return void report(`must be an array of ${what}, got ${describeValue(v)}${hint}`);
  }
  let ok = true;
  v.forEach((item, i) => {
    if (typeof item !== 'string') {
      report(`item ${i + 1} must be a string, got ${describeValue(item)}`);
      ok = false;
    } else if (!checkItem(item, report)) {
      ok = false;
    }
  });
  return ok ? (v as string[]) : undefined;
}

export function checkInputs(v: unknown, report: Report): string[] | undefined {
  const inputs = checkStringArray(v, 'task names', report);
  if (inputs === undefined) return undefined;
  const seen = new Set<string>();
  for (const name of inputs) {
    if (seen.has(name)) return void report(`lists ${JSON.stringify(name)} twice`);
    seen.add(name);
  }
  return inputs;
}

export function checkMatch(v: unknown, report: Report): string[] | undefined {
  const globs = checkStringArray(v, 'glob patterns', report, (item, r) => {
    const why = globError(item);
    if (why !== null) r(`bad glob ${JSON.stringify(item)}: ${why}`);
    return why === null;
  });
  if (globs !== undefined && globs.length === 0) {
    return void report('is empty, so no output could ever flow in (omit match to accept every output)');
  }
  return globs;
}

/**
 * `files`: globs relative to the manifest's directory. Only their form is checked here; load expands
 * them against the filesystem (files.ts). Returns the well-formed ones even when others are reported,
 * so that load can also say which of those match nothing (a manifest with problems is never used).
 */
export function checkFiles(v: unknown, report: Report): string[] | undefined {
  const valid: string[] = [];
  checkStringArray(v, 'glob patterns', report, (item, r) => {
    if (item.startsWith('/')) {
      r(`${JSON.stringify(item)} must be relative to the manifest's directory, not an absolute path`);
      return false;
    }
    const why = globError(item);
    if (why !== null) r(`bad glob ${JSON.stringify(item)}: ${why}`);
    else valid.push(item);
    return why === null;
  });
  return Array.isArray(v) ? valid : undefined;
}

export function checkShell(v: unknown, report: Report): string[] | undefined {
  const shell = checkStringArray(v, 'strings', report);
  if (shell === undefined) return undefined;
  if (shell.length === 0) return void report('must not be empty: it needs at least the program to run');
  if (shell[0] === '') return void report('the program (first item) must not be an empty string');
  return shell;
}

export function checkPositiveInteger(v: unknown, report: Report): number | undefined {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    return void report(`must be a positive integer, got ${describeValue(v)}`);
  }
  return v;
}

export function checkRetries(v: unknown, report: Report): number | undefined {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    return void report(`must be a non-negative integer, got ${describeValue(v)}`);
  }
  return v;
}

export function checkTimeout(v: unknown, report: Report): number | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    return void report(`must be a positive number of seconds, got ${describeValue(v)}`);
  }
  return v;
}

export function checkGather(v: unknown, report: Report): boolean | undefined {
  if (typeof v !== 'boolean') return void report(`must be true or false, got ${describeValue(v)}`);
  return v;
}

export function checkProtocol(v: unknown, report: Report): 'oneshot' | 'lines' | undefined {
  if (v === 'oneshot' || v === 'lines') return v;
  return void report(
    `must be "oneshot" (a process per step, the default) or "lines" (one long-lived process fed a JSON line per step), got ${describeValue(v)}`,
  );
}

export function checkEnv(v: unknown, report: Report): Record<string, string> | undefined {
  if (!isTable(v)) return void report(`must be a table of strings, like { LC_ALL = "C" }, got ${describeValue(v)}`);
  let ok = true;
  for (const [key, value] of Object.entries(v)) {
    if (!ENV_NAME.test(key)) {
      report(
        `${JSON.stringify(key)} is not a valid variable name: use letters, digits and "_", not starting with a digit`,
      );
      ok = false;
    } else if (ENGINE_ENV.has(key)) {
      report(`${key} is set by the engine for every step and cannot be overridden`);
      ok = false;
    }
    if (typeof value !== 'string') {
      const hint = typeof value === 'number' || typeof value === 'boolean' ? ` (quote it: ${key} = "${value}")` : '';
      report(`${JSON.stringify(key)} must be a string, got ${describeValue(value)}${hint}`);
      ok = false;
    } else if (value.includes('\0')) {
      report(`${JSON.stringify(key)} must not contain a NUL character`);
      ok = false;
    }
  }
  return ok ? { ...(v as Record<string, string>) } : undefined;
}

/** An output name: relative, "/"-separated, and unable to escape OUTPUT_DIR. */
export function checkStdout(v: unknown, report: Report): string | undefined {
  if (typeof v !== 'string') return void report(`must be a string, got ${describeValue(v)}`);
  if (v === '') return void report('must not be empty');
  if (v.startsWith('/')) return void report(`must be a relative path, got ${JSON.stringify(v)}`);
  if (v.includes('\0')) return void report('must not contain a NUL character');
  const segments = v.split('/');
  if (segments.includes('..')) return void report(`must not contain "..", got ${JSON.stringify(v)}`);
  if (segments.some((s) => s === '' || s === '.')) {
    return void report(`must be a plain relative path (no empty or "." segments), got ${JSON.stringify(v)}`);
  }
  return v;
}
