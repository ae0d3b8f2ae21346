// Globs on output names (paths relative to OUTPUT_DIR, "/"-separated):
//   *       any run of characters except "/" (dotfiles included: output names are data, not a shell listing)
//   **      any run of characters including "/"; "**/" also matches zero directories, so "**/x" matches "x"
//   ?       exactly one character except "/"
//   [abc] [a-z] [!a] [^a]   a character class; never matches "/"
//   \c      the character c, literally
// A pattern without "/" is matched against the basename of the name ("*.txt" matches "a/b.txt");
// a pattern with "/" against the whole name ("a/*.txt" matches "a/b.txt" but not "x/a/b.txt").
// The whole subject must match, not a part of it.

interface Compiled {
  regex: RegExp;
  wholeName: boolean;
}

// matchesAny runs once per output of every step, so each pattern is translated only once.
const cache = new Map<string, Compiled>();

/** Why a pattern is unusable, or null when it is a valid glob. */
export function globError(pattern: string): string | null {
  try {
    translate(pattern);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The anchored RegExp of a glob; throws on a bad glob (see globError). */
export function compileGlob(pattern: string): RegExp {
  return compiled(pattern).regex;
}

/** True when name passes one of the patterns; a null list (no `match`) lets everything through. */
export function matchesAny(patterns: readonly string[] | null, name: string): boolean {
  if (patterns === null) return true;
  for (const pattern of patterns) {
    const { regex, wholeName } = compiled(pattern);
    const subject = wholeName ? name : name.slice(name.lastIndexOf('/') + 1);
    if (regex.test(subject)) return true;
  }
  return false;
}

function compiled(pattern: string): Compiled {
  let entry = cache.get(pattern);
  if (entry === undefined) {
    entry = { regex: new RegExp(`^${translate(pattern)}$`, 's'), wholeName: pattern.includes('/') };
    cache.set(pattern, entry);
  }
  return entry;
}

function translate(pattern: string): string {
  if (pattern === '') throw new Error('empty pattern');
  if (pattern.startsWith('/')) throw new Error('starts with "/": output names are relative, it would never match');
  let out = '';
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        const atSegmentStart = i === 0 || pattern[i - 1] === '/';
        i += 2;
        if (atSegmentStart && pattern[i] === '/') {
          out += '(?:.*/)?';
          i += 1;
        } else {
          out += '.*';
        }
      } else {
        out += '[^/]*';
        i += 1;
      }
    } else if (c === '?') {
      out += '[^/]';
      i += 1;
    } else if (c === '[') {
      const [cls, next] = translateClass(pattern, i);
      out += cls;
      i = next;
    } else if (c === '\\') {
      if (i + 1 >= pattern.length) throw new Error('ends with a lone "\\"');
      out += escapeRegex(pattern[i + 1]!);
      i += 2;
    } else {
      out += escapeRegex(c);
      i += 1;
    }
  }
  return out;
}

// Returns the regex class and the index just past the closing "]".
function translateClass(pattern: string, open: number): [string, number] {
  let i = open + 1;
  let negate = false;
  if (pattern[i] === '!' || pattern[i] === '^') {
    negate = true;
    i += 1;
  }
  const items: string[] = [];
  let first = true;
  while (i < pattern.length && (pattern[i] !== ']' || first)) {
    first = false;
    let lo = pattern[i]!;
    if (lo === '\\' && i + 1 < pattern.length) lo = pattern[++i]!;
    i += 1;
    if (pattern[i] === '-' && i + 1 < pattern.length && pattern[i + 1] !== ']') {
      let hi = pattern[i + 1]!;
      i += 2;
      if (hi === '\\' && i < pattern.length) hi = pattern[i++]!;
      if (hi < lo) throw new Error(`bad range "${lo}-${hi}" in "[...]"`);
      items.push(`${escapeClassChar(lo)}-${escapeClassChar(hi)}`);
    } else {
      items.push(escapeClassChar(lo));
    }
  }
  if (i >= pattern.length) throw new Error('unclosed "["');
  // "/" separates directories, so no class may match it, negated or not.
  const body = items.join('');
  return [negate ? `[^/${body}]` : `(?!/)[${body}]`, i + 1];
}

function escapeRegex(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
}

function escapeClassChar(c: string): string {
  return /[\\\][^-]/.test(c) ? `\\${c}` : c;
}
