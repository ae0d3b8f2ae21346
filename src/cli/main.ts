#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { errnoCode, UserError } from '../errors.js';
import { ManifestError, formatProblem } from '../manifest/index.js';
import { parseArgs } from './args.js';
import type { Io } from './command.js';
import { COMMANDS } from './commands.js';
import { commandHelp } from './help.js';
import { nearest } from '../edit-distance.js';

const io: Io = { stdout: process.stdout, stderr: process.stderr };
// The reader of our output went away (`| head`): the rest goes nowhere and the command ends as it
// would have (a run is not cut short by its reader), with no stack trace for a closed pipe.
process.stdout.on('error', (err) => {
  if (errnoCode(err) !== 'EPIPE') throw err;
  process.stdout.write = () => true;
});

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return [
    'task-pipeline: a content-addressed pipeline engine for shell scripts',
    '',
    'usage: task-pipeline -manifest m.toml -db ./db [-input PATH]... [flags]',
    '       task-pipeline COMMAND [flags]',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'task-pipeline COMMAND --help' for a command's flags and an example.",
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === undefined || first === '--help' || first === '-help' || first === '-h' || first === 'help') {
    io.stdout.write(overview());
    return first === undefined ? 2 : 0;
  }
  if (first === '--version' || first === '-version' || first === 'version') {
    io.stdout.write(`task-pipeline ${version()}\n`);
    return 0;
  }
  // No command word: the run command (`task-pipeline -manifest m.toml`).
  const name = first.startsWith('-') ? 'run' : first;
  const rest = first.startsWith('-') ? argv : argv.slice(1);
  const entry = COMMANDS[name];
  if (!entry) {
    const hint = nearest(name, Object.keys(COMMANDS));
    throw new UserError(
      'EUSAGE',
      `unknown command ${JSON.stringify(name)}${hint ? ` (did you mean "${hint}"?)` : ''}; see 'task-pipeline --help'`,
    );
  }
  const { command } = await entry.load();
  const args = parseArgs(rest, command.flags, command.name);
  if (args.flags.help) {
    io.stdout.write(commandHelp(command));
    return 0;
  }
  return command.run(args, io);
}

function isDiskFull(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOSPC' || code === 'SQLITE_FULL' || code === 'EDQUOT';
}

const verbose = process.argv.includes('-verbose') || process.argv.includes('--verbose');
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ManifestError) {
      for (const p of err.problems) io.stderr.write(`task-pipeline: ${formatProblem(p)}\n`);
      process.exitCode = 2;
    } else if (err instanceof UserError) {
      io.stderr.write(`task-pipeline: ${err.message}\n`);
      if (verbose && err.cause) io.stderr.write(`${String((err.cause as Error).stack ?? err.cause)}\n`);
      process.exitCode = err.exitCode;
    } else if (isDiskFull(err)) {
      io.stderr.write(
        `task-pipeline: the disk is full (${(err as Error).message}); free some space and run again: nothing committed is lost\n`,
      );
      process.exitCode = 1;
    } else if (errnoCode(err) === 'SQLITE_BUSY') {
      io.stderr.write(`task-pipeline: the db is busy (another process holds a write lock on it); try again\n`);
      process.exitCode = 2;
    } else {
      const e = err as Error;
      io.stderr.write(`task-pipeline: internal error: ${e?.message ?? String(err)}\n`);
      io.stderr.write(
        verbose
          ? `${e?.stack ?? ''}\n`
          : 'task-pipeline: run again with -verbose for a stack trace, and please report it\n',
      );
      process.exitCode = 1;
    }
  },
);
