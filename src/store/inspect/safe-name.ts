/**
 * An output name made safe to use as a path under an export directory. Names come from the db
 * and are data: whatever they hold (`../x`, `/etc/passwd`, `a/../../b`, empty segments, NUL),
 * the result is a relative path of plain segments that cannot climb out of its base.
 */
export interface SafeName {
  path: string;
  /** The name had to be changed (so the user is told). */
  changed: boolean;
}

export function safeRelativePath(name: string): SafeName {
  const segments = name
    .split('/')
    // "." and "" say nothing; ".." would climb: all three are dropped rather than resolved.
    .filter((s) => s !== '' && s !== '.' && s !== '..')
    // A NUL cannot be in a file name at all.
    .map((s) => s.replace(/\0/g, '_'));
  const path = segments.length === 0 ? 'unnamed' : segments.join('/');
  return { path, changed: path !== name };
}
