import { availableParallelism } from 'node:os';
import { UserError } from '../errors.js';
import { dryRun, formatDryRun } from '../aside/dry-run.js';
import { runPipeline } from '../engine/run-pipeline.js';
import { runExitCode } from '../engine/run-summary.js';
import { loadManifest } from '../manifest/index.js';
import { COMMON_FLAGS, DB_FLAG, type Command } from './command.js';
import { PlainProgress, ProgressView } from './progress.js';
import { formatFailures, formatSummary } from './run-report.js';
import { isPostgresUrl } from '../store/postgres/pg-url.js';

export const command: Command = {
  name: 'run',
  summary:
    'Run a manifest: every task over every input, resuming where the last run stopped and never repeating a step.',
  usage:
    '-manifest m.toml [-db ./db | -db postgres://... -store DIR [-coordinate]] [-input PATH]... [-parallel N] [-task NAME]... [-force NAME]... [-dry-run|-n] [-durable] [-rehash] [-quiet|-verbose]',
  examples: [
    'task-pipeline -manifest manifests/wordfreq.toml -db ./db -input manifests/corpus',
    'task-pipeline -manifest m.toml -db ./db -task count -parallel 8',
  ],
  flags: {
    manifest: { type: 'string', value: 'FILE', help: 'the TOML manifest (required)' },
    db: DB_FLAG,
    store: {
      type: 'string',
      value: 'DIR',
      help: 'with -db postgres://...: the shared directory for objects (required there; a local db keeps them in DB/objects)',
    },
    coordinate: { type: 'bool', help: 'with -db postgres://...: run no step here, leave them all to the workers' },
    input: { type: 'list', value: 'PATH', help: 'a file, or a directory walked recursively, to add as run input' },
    parallel: { type: 'int', value: 'N', default: availableParallelism(), help: 'steps running at once' },
    task: { type: 'list', value: 'NAME', help: "run only this task's steps" },
    force: {
      type: 'list',
      value: 'NAME',
      help: "run this task's current steps again although they are done (outputs that differ replace the old ones)",
    },
    'dry-run': { type: 'bool', help: 'say what a run would do now, per task and why (-n); write nothing' },
    durable: {
      type: 'bool',
      help: 'fsync each object and its directories before the commit that names it, and each commit (power-loss safety)',
    },
    rehash: {
      type: 'bool',
      help: 'read and hash every -input file again, even those whose stat says they are unchanged',
    },
    report: {
      type: 'string',
      value: 'FILE.html',
      help: 'write a self-contained HTML report of this run (summary, timeline, durations, failures with their logs)',
    },
    quiet: { type: 'bool', help: 'print nothing but errors' },
    ...COMMON_FLAGS,
    verbose: { type: 'bool', help: 'stream script output, each line prefixed with [task#step]' },
  },
  notes: [
    'Exit codes: 0 all steps done; 1 a step failed; 2 usage, manifest or lock error; 130 interrupted.',
    'Ctrl-C stops launching steps and stops the running ones; they resume on the next run. A second Ctrl-C kills at once.',
  ],
  async run(args, io) {
    const f = args.flags;
    if (args.positionals.length > 0) throw new UserError('EUSAGE', `run: unexpected argument "${args.positionals[0]}"`);
    if (typeof f.manifest !== 'string')
      throw new UserError('EUSAGE', "run: -manifest FILE is required; see 'task-pipeline run --help'");
    if (f.quiet && f.verbose) throw new UserError('EUSAGE', 'run: -quiet and -verbose cannot be used together');
    const manifest = loadManifest(f.manifest);
    const dbDir = String(f.db);
    if (isPostgresUrl(dbDir) || f.store !== undefined || f.coordinate)
      return (await import('./run-postgres.js')).runOnPostgres(args, io, manifest);
    if (f['dry-run']) {
      const plan = await dryRun({ manifest, dbDir, inputs: f.input as string[], force: f.force as string[] });
      io.stdout.write(formatDryRun(plan));
      return 0;
    }
    const stop = new AbortController();
    const kill = new AbortController();
    const onSignal = (sig: NodeJS.Signals) => {
      if (!stop.signal.aborted) {
        // Through the progress display, which clears itself first: the message stays on screen.
        const text = `task-pipeline: ${sig}: stopping; running steps go back to pending (Ctrl-C again kills them now)\n`;
        if (progress) progress.say(text);
        else io.stderr.write(text);
        stop.abort();
      } else {
        kill.abort();
      }
    };
    const progress =
      f.quiet || f.verbose ? null : io.stderr.isTTY ? new ProgressView(io.stderr) : new PlainProgress(io.stderr);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const summary = await runPipeline({
        manifest,
        dbDir,
        inputs: f.input as string[],
        parallel: f.parallel as number,
        tasks: f.task as string[],
        force: f.force as string[],
        durable: Boolean(f.durable),
        rehash: Boolean(f.rehash),
        echo: f.verbose ? (line) => io.stderr.write(`${line}\n`) : null,
        stop: stop.signal,
        kill: kill.signal,
        onStart: progress ? (source) => progress.start(source) : undefined,
        onNewDb: f.quiet ? undefined : () => io.stderr.write(`task-pipeline: new db at ${dbDir}\n`),
      });
      progress?.stop();
      if (typeof f.report === 'string')
        await (await import('../serve/report.js')).writeRunReport(dbDir, summary.runId, f.report);
      if (!f.quiet) io.stdout.write(formatSummary(summary, dbDir));
      io.stderr.write(formatFailures(summary, dbDir));
      return runExitCode(summary);
    } finally {
      progress?.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
