import { UserError } from '../errors.js';
import { openServeDb } from '../serve/serve-db.js';
import { startServer } from '../serve/server.js';
import { COMMON_FLAGS, DB_FLAG, STORE_FLAG, type Command } from './command.js';

export const command: Command = {
  name: 'serve',
  summary:
    'A local web view of the db: the task graph with live counts, tasks, steps, logs, objects and their lineage.',
  usage: 'serve [-db ./db | -db postgres://... -store DIR] [-port N]',
  examples: ['task-pipeline serve -db ./db', 'task-pipeline serve -db ./db -port 8080'],
  flags: {
    db: DB_FLAG,
    store: STORE_FLAG,
    port: { type: 'int', value: 'N', help: 'the port on 127.0.0.1 (default: a free one, printed)' },
    ...COMMON_FLAGS,
  },
  notes: [
    'It listens on 127.0.0.1 only and answers only to the Host 127.0.0.1:PORT or localhost:PORT.',
    'It opens the db read-only for each request and writes nothing: run it beside a run to watch it.',
    "On PostgreSQL (-db postgres://... -store DIR) the overview's counts are recounted once a second at most.",
    'Ctrl-C stops it.',
  ],
  async run(args, io) {
    if (args.positionals.length > 0)
      throw new UserError(
        'EUSAGE',
        `serve: unexpected argument "${args.positionals[0]}"; see 'task-pipeline serve --help'`,
      );
    const port = (args.flags.port as number | undefined) ?? 0;
    if (port > 65535) throw new UserError('EUSAGE', `serve: -port must be at most 65535, not ${port}`);
    const store = typeof args.flags.store === 'string' && args.flags.store !== '' ? args.flags.store : null;
    const db = await openServeDb(String(args.flags.db), store);
    let running;
    try {
      running = await startServer(db, port);
    } catch (err) {
      await db.close();
      const code = (err as { code?: string }).code;
      if (code === 'EADDRINUSE' || code === 'EACCES')
        throw new UserError('EUSAGE', `serve: cannot listen on 127.0.0.1:${port}: ${(err as Error).message}`, {
          cause: err,
        });
      throw err;
    }
    io.stdout.write(`serving ${db.name} at ${running.url} (Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        void running.close().then(resolve);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    return 0;
  },
};
