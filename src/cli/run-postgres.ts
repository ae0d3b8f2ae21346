import { UserError } from '../errors.js';
import { formatDryRun } from '../aside/dry-run.js';
import { runCoordinator } from '../cluster/coordinator.js';
import { runExitCode } from '../engine/run-summary.js';
import type { Manifest } from '../manifest/index.js';
import { isPostgresUrl, redactUrl } from '../store/postgres/pg-db.js';
import type { Io, ParsedArgs } from './command.js';
import { formatFailures, formatSummary } from './run-report.js';

/** `-db postgres://... -store DIR`: the run as a coordinator that workers may join (cluster/coordinator.ts). */
export async function runOnPostgres(args: ParsedArgs, io: Io, manifest: Manifest): Promise<number> {
  const f = args.flags;
  const url = String(f.db);
  if (!isPostgresUrl(url))
    throw new UserError(
      'EUSAGE',
      `run: -store and -coordinate go with -db postgres://...; a local db keeps its objects in ${url}/objects`,
    );
  if (typeof f.store !== 'string' || f.store === '')
    throw new UserError('EUSAGE', 'run: -db postgres://... needs -store DIR, the directory shared by every worker');
  if (f['dry-run']) {
    const { dryRunOnPostgres } = await import('../cluster/dry-run-postgres.js');
    const plan = await dryRunOnPostgres({ manifest, url, inputs: f.input as string[], force: f.force as string[] });
    io.stdout.write(formatDryRun(plan));
    return 0;
  }
  const stop = new AbortController();
  const kill = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (!stop.signal.aborted) {
      io.stderr.write(
        `task-pipeline: ${sig}: stopping; running steps go back to pending (Ctrl-C again kills them now)\n`,
      );
      stop.abort();
    } else {
      kill.abort();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const summary = await runCoordinator({
      manifest,
      url,
      storeDir: f.store,
      inputs: f.input as string[],
      parallel: f.parallel as number,
      coordinateOnly: Boolean(f.coordinate),
      tasks: f.task as string[],
      force: f.force as string[],
      durable: Boolean(f.durable),
      rehash: Boolean(f.rehash),
      echo: f.verbose ? (line) => io.stderr.write(`${line}\n`) : null,
      stop: stop.signal,
      kill: kill.signal,
      onNewDb: f.quiet ? undefined : () => io.stderr.write(`task-pipeline: new db at ${redactUrl(url)}\n`),
    });
    if (typeof f.report === 'string')
      await (await import('../serve/report-postgres.js')).writePostgresRunReport(url, f.store, summary.runId, f.report);
    if (!f.quiet) io.stdout.write(formatSummary(summary, redactUrl(url)));
    io.stderr.write(formatFailures(summary, redactUrl(url)));
    return runExitCode(summary);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
