/**
 * Errors a user can cause or fix (bad flag, missing db, unknown hash, busy lock...).
 * Library code throws these with a stable `code`; only the CLI entry turns them into
 * one line on stderr and an exit code.
 */
export class UserError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.code = code;
    this.exitCode = options.exitCode ?? 2;
  }
}

/** The `code` of an error: an errno name (ENOENT) or SQLite's (SQLITE_BUSY). */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
