/** What every command file exports: its flags, its help, and its action. */
export type FlagType = 'string' | 'bool' | 'int' | 'list';

export interface FlagSpec {
  type: FlagType;
  help: string;
  /** Shown in help as the value's name, e.g. DIR. */
  value?: string;
  default?: string | number | boolean;
}

export interface ParsedArgs {
  flags: Record<string, string | number | boolean | string[] | undefined>;
  positionals: string[];
}

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

export interface Command {
  name: string;
  summary: string;
  /** The usage line after `task-pipeline `. */
  usage: string;
  examples: string[];
  flags: Record<string, FlagSpec>;
  /** Extra lines of help after the flags. */
  notes?: string[];
  run(args: ParsedArgs, io: Io): Promise<number>;
}

/** Flags every command accepts. */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  help: { type: 'bool', help: 'show this help' },
  verbose: { type: 'bool', help: 'more detail (and a stack trace on an internal error)' },
};

export const DB_FLAG: FlagSpec = { type: 'string', value: 'DIR', default: './db', help: 'the pipeline db directory' };
export const JSON_FLAG: FlagSpec = { type: 'bool', help: 'print JSON for scripts instead of text' };
export const STORE_FLAG: FlagSpec = {
  type: 'string',
  value: 'DIR',
  help: 'with -db postgres://...: the shared object directory (required there)',
};
/** -store on a command that reads the db only: accepted, so that one set of flags serves every command. */
export const UNUSED_STORE_FLAG: FlagSpec = {
  ...STORE_FLAG,
  help: 'with -db postgres://...: the shared object directory (accepted, not needed here)',
};
