// `files`: the globs of a task's files, expanded against the filesystem when the manifest is loaded, so
// the task's version can include their bytes. Patterns are relative to the manifest's directory and use
// glob.ts's syntax on the whole relative path ("*" and "?" stop at "/", "**" crosses it). A walk starts
// at the pattern's static directory prefix and, until a "**" segment, reads only the directories whose
// names match their segment. Leading "../" segments are plain names, so files beside the manifest's
// directory can be named too.
import { closeSync, openSync, readSync, readdirSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, posix } from 'node:path';
import type { Report } from './check-fields.js';
import { compileGlob, globError } from './glob.js';
import type { TaskFile } from './types.js';

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOENT: 'no such file',
  ELOOP: 'too many levels of symbolic links',
};

/**
 * Every regular file (or symlink to one) that the patterns match, sorted by path, each with the SHA-256
 * of its bytes; undefined after reporting a pattern that matches nothing or a file that cannot be read.
 */
export function resolveFiles(patterns: readonly string[], dir: string, report: Report): TaskFile[] | undefined {
  const found = new Set<string>();
  let ok = true;
  for (const pattern of patterns) {
    const matches = expandPattern(pattern, dir);
    if (matches.length === 0) {
      report(`${JSON.stringify(pattern)} matches no file (relative to ${dir})`);
      ok = false;
    }
    for (const rel of matches) found.add(posix.normalize(rel));
  }
  if (!ok) return undefined;
  const files: TaskFile[] = [];
  for (const path of [...found].sort()) {
    try {
      files.push({ path, hash: hashFile(join(dir, path)) });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      report(`cannot read ${JSON.stringify(path)}: ${(e.code !== undefined && REASONS[e.code]) || e.message}`);
      ok = false;
    }
  }
  return ok ? files : undefined;
}

/** The relative paths (as the pattern spells its literal part) of the regular files a pattern matches. */
function expandPattern(pattern: string, dir: string): string[] {
  const segments = pattern.split('/');
  const whole = compileGlob(pattern);
  const out: string[] = [];
  // A segment that is no glob on its own (an escaped "/" or a "/" inside "[...]" split it) leaves
  // only the whole-path match: walk everything under the literal prefix.
  const bySegment = segments.every((s) => s.includes('**') || isLiteral(s) || globError(s) === null);
  if (bySegment) {
    walkSegments(dir, '', segments, 0, whole, out);
  } else {
    let i = 0;
    while (i < segments.length - 1 && isLiteral(segments[i]!)) i++;
    const prefix = segments.slice(0, i).join('/');
    if (isDirectory(join(dir, prefix))) walkAll(dir, prefix, whole, out, new Set());
  }
  return out;
}

function isLiteral(segment: string): boolean {
  return !/[*?[\\]/.test(segment);
}

function child(rel: string, name: string): string {
  return rel === '' ? name : `${rel}/${name}`;
}

function walkSegments(
  root: string,
  rel: string,
  segments: readonly string[],
  i: number,
  whole: RegExp,
  out: string[],
): void {
  const segment = segments[i]!;
  const last = i === segments.length - 1;
  if (segment.includes('**')) {
    if (isDirectory(join(root, rel))) walkAll(root, rel, whole, out, new Set());
    return;
  }
  if (isLiteral(segment)) {
    const next = child(rel, segment);
    if (last) {
      if (segment !== '' && isFile(join(root, next))) out.push(next);
    } else if (isDirectory(join(root, next))) {
      walkSegments(root, next, segments, i + 1, whole, out);
    }
    return;
  }
  const regex = compileGlob(segment);
  for (const entry of entries(join(root, rel))) {
    if (!regex.test(entry.name)) continue;
    const next = child(rel, entry.name);
    const kind = kindOf(root, next, entry);
    if (last) {
      if (kind === 'file') out.push(next);
    } else if (kind === 'dir') {
      walkSegments(root, next, segments, i + 1, whole, out);
    }
  }
}

/** Every regular file under rel whose whole relative path matches; symlinked directories are followed once. */
function walkAll(root: string, rel: string, whole: RegExp, out: string[], ancestors: Set<string>): void {
  let real: string;
  try {
    real = realpathSync(join(root, rel));
  } catch {
    return;
  }
  if (ancestors.has(real)) return; // a symlink cycle
  ancestors.add(real);
  for (const entry of entries(join(root, rel))) {
    const next = child(rel, entry.name);
    const kind = kindOf(root, next, entry);
    if (kind === 'file' && whole.test(next)) out.push(next);
    else if (kind === 'dir') walkAll(root, next, whole, out, ancestors);
  }
  ancestors.delete(real);
}

function entries(path: string): Dirent[] {
  try {
    return readdirSync(path, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch {
    return [];
  }
}

function kindOf(root: string, rel: string, entry: Dirent): 'file' | 'dir' | null {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (!entry.isSymbolicLink()) return null;
  if (isFile(join(root, rel))) return 'file';
  return isDirectory(join(root, rel)) ? 'dir' : null;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function hashFile(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}
